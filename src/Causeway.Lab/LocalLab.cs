using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Resources;
using Causeway.Core.Security;

namespace Causeway.Lab;

/// <summary>
/// Clusters on one machine for trying and testing, with one shared root CA, an intermediate per cluster, and
/// background processes whose pids and logs live in the lab directory. Two isolations: <c>loopback</c> (no root)
/// gives each cluster a block 127.B.0.0/16 (control plane at 127.B.0.1, gateways and pods after it, every one keeping
/// the real port numbers) and applications use their sidecar as an HTTP proxy; <c>netns</c> (root) puts every pod,
/// control plane and gateway in its own network namespace on its network's bridge (<see cref="NetworkFabric"/>), with
/// transparent capture and mesh DNS in each pod, and no route between networks but through the gateways.
/// </summary>
public sealed class LocalLab
{
    public const string Loopback = "loopback";
    public const string Netns = "netns";

    private readonly Lock _gate = new();

    private LocalLab(string directory) => Directory = directory;

    public string Directory { get; }

    public static string DefaultDirectory =>
        Environment.GetEnvironmentVariable("CAUSEWAY_LAB") is { Length: > 0 } dir ? dir : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".causeway", "lab");

    public static LocalLab Open(string? directory = null) => new(Path.GetFullPath(directory ?? DefaultDirectory));

    public LabState State => LabState.Load(Directory);

    public string RootDirectory => Path.Combine(Directory, "root");

    public string DataDirectory(string cluster) => Path.Combine(Directory, cluster, "control-plane");

    /// <summary>Creates a cluster and starts its control plane; the mesh root is made on first use.</summary>
    public async Task<LabCluster> CreateClusterAsync(string name, string network, string meshId, string revision, string isolation = Loopback)
    {
        var state = State;
        if (state.Clusters.Any(c => c.Name == name))
        {
            throw new InvalidOperationException($"the lab already has a cluster '{name}'; remove the lab with 'causeway lab down' or pick another name");
        }

        if (isolation is not (Loopback or Netns))
        {
            throw new ArgumentException($"isolation '{isolation}' is not known; use {Loopback} or {Netns}");
        }

        if (state.Clusters.Count > 0 && state.Isolation != isolation)
        {
            throw new InvalidOperationException($"the lab in {Directory} runs with isolation {state.Isolation}; every cluster of a lab shares it (remove the lab with 'causeway lab down', or use another --lab-dir)");
        }

        if (isolation == Netns && NetworkFabric.Unavailable() is { } why)
        {
            throw new InvalidOperationException(why);
        }

        if (!Slug(name).Equals(name, StringComparison.Ordinal) || !Slug(network).Equals(network, StringComparison.Ordinal))
        {
            throw new ArgumentException($"cluster '{name}' and network '{network}' must be lower-case letters, digits and '-' (they name namespaces and files)");
        }

        if (!File.Exists(Path.Combine(RootDirectory, CaDirectory.RootKey)))
        {
            using var root = CertificateAuthority.CreateRoot("Causeway lab");
            CaDirectory.WriteRoot(root, RootDirectory);
        }

        var caDir = Path.Combine(Directory, name, "cacerts");
        if (!CaDirectory.HasIntermediate(caDir))
        {
            using var root = CaDirectory.LoadRoot(Path.Combine(RootDirectory, CaDirectory.RootCert), Path.Combine(RootDirectory, CaDirectory.RootKey));
            using var intermediate = root.CreateIntermediate(name);
            CaDirectory.WriteIntermediate(intermediate, caDir);
        }

        var dataDir = DataDirectory(name);
        var endpoints = Path.Combine(dataDir, "control-plane.json");
        System.IO.Directory.CreateDirectory(dataDir);
        if (isolation == Netns)
        {
            return await CreateNetnsClusterAsync(name, network, meshId, revision, caDir, dataDir, endpoints);
        }

        var tried = new HashSet<int>();
        while (true)
        {
            var cluster = new LabCluster { Name = name, Network = network, MeshId = meshId, Revision = revision, Block = ReserveBlock(tried) };
            File.Delete(endpoints);
            var log = Log(name, "control-plane");
            if (File.Exists(log))
            {
                File.Delete(log);
            }

            var pid = await LabProcesses.StartAsync(
                ["control-plane", "--cluster", name, "--network", network, "--mesh-id", meshId, "--revision", revision, "--data-dir", dataDir, "--ca-dir", caDir, "--listen", cluster.ControlPlaneAddress],
                log, Pid(name, "control-plane"), runtime: LabProcesses.ControlPlaneRuntime);

            // Recorded before it is known to be healthy, so that 'lab down' stops it whatever happens next.
            Record(s =>
            {
                s.Clusters.Add(cluster);
                s.Processes.Add(new LabProcess { Cluster = name, Role = "control-plane", Name = "istiod-" + revision, Namespace = "istio-system", Address = cluster.ControlPlaneAddress, Pid = pid, Log = log });
            });
            try
            {
                await WaitAsync(() => File.Exists(endpoints), pid, log, "the control plane to start");
            }
            catch (InvalidOperationException) when (File.Exists(log) && File.ReadAllText(log).Contains("address is in use", StringComparison.Ordinal) && tried.Count < 20)
            {
                // Another lab (or anything else) took the block between the check and the bind: try the next one.
                await LabProcesses.StopAsync([pid], TimeSpan.FromSeconds(2));
                Record(s =>
                {
                    s.Clusters.RemoveAll(c => c.Name == name);
                    s.Processes.RemoveAll(p => p.Pid == pid);
                });
                ReleaseBlock(cluster.Block);
                continue;
            }

            return cluster;
        }
    }

    private async Task<LabCluster> CreateNetnsClusterAsync(string name, string network, string meshId, string revision, string caDir, string dataDir, string endpoints)
    {
        var fabric = await EnsureFabricAsync();
        var net = await EnsureNetworkAsync(fabric, network);
        var address = NextHostAddress(network);
        var publicAddress = NextHostAddress(null);
        // A leg on its own network for its proxies, and one on the public segment for the other control planes.
        var ns = await AddNamespaceAsync($"{name}-istiod", [(NetworkFabric.Bridge(net.Index), address), ("pub", publicAddress)], routes: []);
        var cluster = new LabCluster { Name = name, Network = network, MeshId = meshId, Revision = revision, Block = 0, Address = address, PublicAddress = publicAddress, Netns = ns };
        File.Delete(endpoints);
        var log = Log(name, "control-plane");
        var pid = await LabProcesses.StartAsync(
            ["control-plane", "--cluster", name, "--network", network, "--mesh-id", meshId, "--revision", revision, "--data-dir", dataDir, "--ca-dir", caDir, "--listen", "0.0.0.0"],
            log, Pid(name, "control-plane"), NetworkFabric.Enter(ns), LabProcesses.ControlPlaneRuntime);
        Record(s =>
        {
            s.Clusters.Add(cluster);
            s.Processes.Add(new LabProcess { Cluster = name, Role = "control-plane", Name = "istiod-" + revision, Namespace = "istio-system", Address = publicAddress, Netns = ns, Pid = pid, Log = log });
        });
        await WaitAsync(() => File.Exists(endpoints), pid, log, "the control plane to start");
        return cluster;
    }

    private async Task<string> EnsureFabricAsync()
    {
        if (State.FabricId is { } existing)
        {
            return existing;
        }

        var id = "cw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        Record(s =>
        {
            s.Isolation = Netns;
            s.FabricId = id;
            s.Namespaces.Add(id + "-fabric");
        });
        await NetworkFabric.CreateFabricAsync(id + "-fabric");
        return id;
    }

    private async Task<LabNetwork> EnsureNetworkAsync(string fabric, string name)
    {
        if (State.Networks.FirstOrDefault(n => n.Name == name) is { } existing)
        {
            return existing;
        }

        var network = new LabNetwork { Name = name, Index = State.Networks.Count + 1 };
        if (network.Index > 250)
        {
            throw new InvalidOperationException("the lab has 250 networks already");
        }

        var router = $"{fabric}-{name}-router";
        var publicAddress = NextHostAddress(null);
        var veth = NextVeth();
        Record(s =>
        {
            s.Networks.Add(network);
            s.Namespaces.Add(router);
        });
        await NetworkFabric.CreateNetworkAsync(fabric + "-fabric", network.Index, router, veth, publicAddress);
        return network;
    }

    /// <summary>The next free address of a network's segment, or of the public one when <paramref name="network"/> is null.</summary>
    private string NextHostAddress(string? network)
    {
        var address = "";
        Record(s =>
        {
            var n = network is null ? null : s.Networks.Single(x => x.Name == network);
            var prefix = n is null ? NetworkFabric.PublicPrefix : NetworkFabric.NetworkPrefix(n.Index);
            var host = n is null ? s.NextPublicHost++ : n.NextHost++;
            if (host > 254)
            {
                throw new InvalidOperationException($"{prefix}.0/24 has no address left");
            }

            address = $"{prefix}.{host}";
        });
        return address;
    }

    /// <summary>Creates the lab's namespace <c>FABRIC-NAME</c> with the given legs, recorded first so 'lab down' removes it whatever happens.</summary>
    private async Task<string> AddNamespaceAsync(string name, IReadOnlyList<(string Bridge, string Address)> legs, IReadOnlyList<string[]> routes)
    {
        var fabric = State.FabricId!;
        var ns = $"{fabric}-{name}";
        var veth = NextVeth();
        Record(s => s.Namespaces.Add(ns));
        await NetworkFabric.AddHostAsync(fabric + "-fabric", ns, legs, veth, routes);
        return ns;
    }

    /// <summary>A prefix for a namespace's veths in the fabric, unique there and short enough for IFNAMSIZ.</summary>
    private string NextVeth()
    {
        var prefix = "";
        Record(s => prefix = $"v{s.NextVeth++}-");
        return prefix;
    }

    private static string Slug(string name) => new([.. name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]);

    /// <summary>An HTTP client that reaches lab addresses: from inside <paramref name="netns"/> when the process runs in one.</summary>
    public static HttpClient Http(string? netns, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler { UseProxy = false };
        if (netns is not null)
        {
            handler.ConnectCallback = Core.Networking.NetworkNamespace.HttpConnector(netns);
        }

        return new HttpClient(handler) { Timeout = timeout };
    }

    /// <summary>Starts an east-west gateway for the cluster's network and registers it as that network's gateway (what installing the IstioOperator does).</summary>
    public async Task<LabProcess> InstallGatewayAsync(string clusterName, string network, IReadOnlyDictionary<string, string> labels, string? cpus = null)
    {
        var cluster = Cluster(clusterName);
        if (network != cluster.Network)
        {
            throw new InvalidOperationException($"the gateway is for network '{network}' but cluster {cluster.Name} is on '{cluster.Network}'");
        }

        var name = "istio-eastwestgateway";
        if (State.Processes.Any(p => p.Cluster == clusterName && p.Role == "gateway"))
        {
            throw new InvalidOperationException($"cluster {clusterName} already has an east-west gateway");
        }

        string address;
        string? netns = null;
        if (cluster.Netns is null)
        {
            address = NextAddress(clusterName);
        }
        else
        {
            // Remote sidecars dial the gateway's public address; it reaches its own pods on the network leg.
            var net = State.Networks.Single(n => n.Name == cluster.Network);
            var inside = NextHostAddress(cluster.Network);
            address = NextHostAddress(null);
            netns = await AddNamespaceAsync($"{cluster.Name}-eastwest", [(NetworkFabric.Bridge(net.Index), inside), ("pub", address)], routes: []);
        }

        using var admin = Admin(cluster);
        var labelYaml = string.Join(", ", labels.Select(l => $"{l.Key}: \"{l.Value}\""));
        await ApplyAsync(admin, $$"""
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata:
              name: {{name}}
              namespace: istio-system
              labels: {topology.istio.io/network: "{{network}}", istio: eastwestgateway}
            spec:
              hosts: [{{name}}.istio-system.svc.cluster.local]
              ports: [{number: 15021, name: status-port, protocol: HTTP}, {number: 15443, name: tls, protocol: TLS}]
              workloadSelector:
                labels: {istio: eastwestgateway}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: {{name}}, namespace: istio-system}
            spec:
              address: {{address}}
              labels: { {{labelYaml}} }
              serviceAccount: istio-eastwestgateway
            """);
        var process = await StartProxyAsync(cluster, admin, "gateway", name, "istio-system", "istio-eastwestgateway", address, labels, netns, cpus is null ? null : ["taskset", "-c", cpus]);
        return process;
    }

    /// <summary>Deploys a pod of a sample (helloworld or sleep): the application, its WorkloadEntry and its sidecar.</summary>
    public async Task<LabProcess> DeployAsync(string clusterName, string app, string version, string ns)
    {
        var cluster = Cluster(clusterName);
        var pod = $"{app}-{version}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        if (app == "sleep")
        {
            pod = $"sleep-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        }

        string address;
        string? netns = null;
        if (cluster.Netns is null)
        {
            address = NextAddress(clusterName);
        }
        else
        {
            var net = State.Networks.Single(n => n.Name == cluster.Network);
            address = NextHostAddress(cluster.Network);
            netns = await AddNamespaceAsync($"{cluster.Name}-{pod}", [(NetworkFabric.Bridge(net.Index), address)], NetworkFabric.PodRoutes(net.Index));
            await NetworkFabric.CaptureAsync(netns);
            NetworkFabric.WriteResolvConf(netns, ns);
        }

        var appArgs = app switch
        {
            "helloworld" => new[] { "sample", "helloworld", "--address", address, "--port", "5000", "--version", version, "--instance", pod },
            "sleep" => ["sample", "sleep"],
            _ => throw new ArgumentException($"unknown sample '{app}'; the lab ships helloworld and sleep"),
        };
        var appPid = await LabProcesses.StartAsync(appArgs, Log(clusterName, pod + "-app"), Pid(clusterName, pod + "-app"), netns is null ? null : NetworkFabric.Enter(netns));
        Record(s => s.Processes.Add(new LabProcess { Cluster = clusterName, Role = "app", Name = pod, Namespace = ns, Address = address, Netns = netns, Pid = appPid, Log = Log(clusterName, pod + "-app") }));

        using var admin = Admin(cluster);
        var serviceAccount = app;
        var port = app == "sleep" ? 80 : 5000;
        await ApplyAsync(admin, $$"""
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata:
              name: {{pod}}
              namespace: {{ns}}
              labels: {app: {{app}}, version: "{{version}}"}
            spec:
              address: {{address}}
              ports: {http: {{port}} }
              labels: {app: {{app}}, version: "{{version}}", security.istio.io/tlsMode: istio}
              serviceAccount: {{serviceAccount}}
            """);
        return await StartProxyAsync(cluster, admin, "sidecar", pod, ns, serviceAccount, address, new Dictionary<string, string> { ["app"] = app, ["version"] = version }, netns);
    }

    /// <summary>The pod whose name is or starts with <paramref name="workload"/> in the namespace of the cluster.</summary>
    public LabProcess FindPod(string clusterName, string ns, string workload)
    {
        var pods = State.Processes.Where(p => p.Cluster == clusterName && p.Role == "sidecar" && p.Namespace == ns).ToList();
        return pods.FirstOrDefault(p => p.Name == workload) ?? pods.FirstOrDefault(p => p.Name.StartsWith(workload + "-", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"no pod '{workload}' in namespace {ns} of cluster {clusterName}; pods there: {(pods.Count == 0 ? "none" : string.Join(", ", pods.Select(p => p.Name)))}");
    }

    /// <summary>Stops every pod of a namespace in a cluster (what deleting a Kubernetes namespace does to its pods).</summary>
    public async Task StopNamespaceAsync(string clusterName, string ns)
    {
        var doomed = State.Processes.Where(p => p.Cluster == clusterName && p.Namespace == ns && p.Role is "app" or "sidecar").ToList();
        await LabProcesses.StopAsync(doomed.Select(p => p.Pid), TimeSpan.FromSeconds(5));
        var namespaces = doomed.Select(p => p.Netns).OfType<string>().Distinct().ToList();
        await NetworkFabric.RemoveAsync(namespaces);
        Record(s =>
        {
            s.Processes.RemoveAll(p => doomed.Any(d => d.Pid == p.Pid));
            s.Namespaces.RemoveAll(namespaces.Contains);
        });
    }

    /// <summary>Stops every process of the lab and removes the lab directory. Returns the clusters it had.</summary>
    public async Task<IReadOnlyList<string>> DownAsync()
    {
        var state = State;
        await LabProcesses.StopAsync(state.Processes.Select(p => p.Pid), TimeSpan.FromSeconds(5));
        // Pods, gateways and routers first, the fabric (made first) last: each veth goes with its namespace.
        await NetworkFabric.RemoveAsync(Enumerable.Reverse(state.Namespaces));
        foreach (var cluster in state.Clusters.Where(c => c.Netns is null))
        {
            ReleaseBlock(cluster.Block);
        }

        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }

        return state.Clusters.Select(c => c.Name).ToList();
    }

    public LabCluster Cluster(string name) =>
        State.Clusters.FirstOrDefault(c => c.Name == name) ?? throw new InvalidOperationException($"the lab in {Directory} has no cluster '{name}'; create it with 'causeway lab create {name} --network NET'");

    /// <summary>An admin connection to a lab cluster's control plane.</summary>
    public ControlPlaneConnection Admin(LabCluster cluster) =>
        ControlPlaneConnection.Create(new Uri(cluster.Server), File.ReadAllText(Path.Combine(RootDirectory, CaDirectory.RootCert)), File.ReadAllText(Path.Combine(DataDirectory(cluster.Name), "admin-token")).Trim(), networkNamespace: cluster.Netns);

    /// <summary>
    /// Starts a sidecar for a workload whose application something else runs (registered by <paramref name="yaml"/>, a
    /// WorkloadEntry, like a VM joining the mesh), optionally pinned to <paramref name="cpus"/> (a taskset list, as a
    /// Kubernetes CPU limit would confine it). Loopback labs only.
    /// </summary>
    public async Task<LabProcess> StartSidecarAsync(string clusterName, string yaml, string name, string ns, string serviceAccount, string address, IReadOnlyDictionary<string, string> labels, string? cpus = null)
    {
        var cluster = Cluster(clusterName);
        if (cluster.Netns is not null)
        {
            throw new InvalidOperationException("a sidecar for an outside application needs a loopback lab");
        }

        using var admin = Admin(cluster);
        if (yaml.Length > 0)
        {
            await ApplyAsync(admin, yaml);
        }

        return await StartProxyAsync(cluster, admin, "sidecar", name, ns, serviceAccount, address, labels, netns: null, cpus is null ? null : ["taskset", "-c", cpus]);
    }

    /// <summary>Applies resources (YAML, as <c>causeway apply</c>) to a lab cluster.</summary>
    public async Task ApplyAsync(string clusterName, string yaml)
    {
        using var admin = Admin(Cluster(clusterName));
        await ApplyAsync(admin, yaml);
    }

    private async Task<LabProcess> StartProxyAsync(LabCluster cluster, ControlPlaneConnection admin, string role, string name, string ns, string serviceAccount, string address, IReadOnlyDictionary<string, string> labels, string? netns, IReadOnlyList<string>? wrapper = null)
    {
        var token = await admin.Registry.IssueTokenAsync(new IssueTokenRequest { Scope = "workload", Namespace = ns, ServiceAccount = serviceAccount });
        var tokenFile = Path.Combine(Directory, cluster.Name, "tokens", name);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(tokenFile)!);
        await File.WriteAllTextAsync(tokenFile, token.Token);
        var args = new List<string>
        {
            "proxy", "--role", role, "--control-plane", cluster.DiscoveryServer, "--ca-file", Path.Combine(RootDirectory, CaDirectory.RootCert), "--token-file", tokenFile,
            "--workload", name, "--namespace", ns, "--service-account", serviceAccount, "--network", cluster.Network, "--cluster", cluster.Name,
            "--revision", cluster.Revision, "--address", role == "gateway" && netns is not null ? "0.0.0.0" : address,
        };
        if (role == "sidecar" && netns is not null)
        {
            args.Add("--capture");
        }

        foreach (var (k, v) in labels)
        {
            args.Add("--label");
            args.Add($"{k}={v}");
        }

        var log = Log(cluster.Name, name + "-" + role);
        var pid = await LabProcesses.StartAsync(args, log, Pid(cluster.Name, name + "-" + role), netns is null ? wrapper : NetworkFabric.Enter(netns, asProxy: role == "sidecar"));
        var process = new LabProcess { Cluster = cluster.Name, Role = role, Name = name, Namespace = ns, Address = address, Netns = netns, Pid = pid, Log = log };
        Record(s => s.Processes.Add(process));
        using var http = Http(netns, TimeSpan.FromSeconds(2));
        await WaitAsync(() => http.GetAsync($"http://{address}:15021/healthz/ready").Result.IsSuccessStatusCode, pid, log, $"{role} {name} to be ready");
        return process;
    }

    private static async Task ApplyAsync(ControlPlaneConnection admin, string yaml)
    {
        var request = new ApplyRequest();
        request.Resources.AddRange(ResourceDocuments.ParseYaml(yaml).Select(WireDocuments.ToDocument));
        await admin.Registry.ApplyAsync(request);
    }

    /// <summary>The next free pod address of a loopback cluster's block.</summary>
    public string NextAddress(string clusterName)
    {
        string address = "";
        Record(s =>
        {
            var cluster = s.Clusters.Single(c => c.Name == clusterName);
            var host = cluster.NextHost++;
            address = $"127.{cluster.Block}.{host / 250}.{(host % 250) + 1}";
        });
        return address;
    }

    private void Record(Action<LabState> change)
    {
        lock (_gate)
        {
            var state = State;
            change(state);
            state.Save(Directory);
        }
    }

    /// <summary>Where labs on this machine reserve their loopback blocks, so that two labs never share one.</summary>
    private static readonly string Reservations = Path.Combine(Path.GetTempPath(), "causeway-lab-blocks");

    /// <summary>
    /// Reserves the first block no lab holds and nothing listens on, by creating its marker file atomically. A marker
    /// whose lab directory is gone is stale and taken over.
    /// </summary>
    private int ReserveBlock(HashSet<int> tried)
    {
        System.IO.Directory.CreateDirectory(Reservations);
        for (var block = 11; block < 250; block++)
        {
            if (tried.Contains(block))
            {
                continue;
            }

            var marker = Path.Combine(Reservations, block.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (File.Exists(marker) && !System.IO.Directory.Exists(File.ReadAllText(marker).Trim()))
            {
                File.Delete(marker);
            }

            try
            {
                using var stream = new FileStream(marker, FileMode.CreateNew, FileAccess.Write);
                using var writer = new StreamWriter(stream);
                writer.Write(Directory);
            }
            catch (IOException)
            {
                continue;
            }

            if (IsFree(new IPAddress([127, (byte)block, 0, 1]), 15012) && IsFree(new IPAddress([127, (byte)block, 0, 11]), 15001))
            {
                tried.Add(block);
                return block;
            }

            File.Delete(marker);
        }

        throw new InvalidOperationException("no free loopback block 127.11-249.0.0 is left for another cluster");
    }

    private void ReleaseBlock(int block)
    {
        var marker = Path.Combine(Reservations, block.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (File.Exists(marker) && File.ReadAllText(marker).Trim() == Directory)
        {
            File.Delete(marker);
        }
    }

    private static bool IsFree(IPAddress address, int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task WaitAsync(Func<bool> ready, int pid, string log, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                if (ready())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or AggregateException or TaskCanceledException)
            {
            }

            var exited = !LabProcesses.IsAlive(pid);
            if (exited || DateTime.UtcNow > deadline)
            {
                var tail = File.Exists(log) ? string.Join('\n', File.ReadAllLines(log).TakeLast(15)) : "(no log)";
                throw new InvalidOperationException($"{(exited ? "the process exited" : "timed out")} waiting for {what} (pid {pid}); the end of {log}:\n{tail}");
            }

            await Task.Delay(100);
        }
    }

    private string Log(string cluster, string name) => Path.Combine(Directory, cluster, "logs", name + ".log");

    private string Pid(string cluster, string name) => Path.Combine(Directory, cluster, "pids", name + ".pid");
}
