using System.Net;
using Causeway.Lab;
using Causeway.LoadBench.Load;

namespace Causeway.LoadBench.Peers;

/// <summary>
/// Everything the load runs need, on loopback addresses of one lab cluster: the shared backend (nginx, 1 KiB answers)
/// on the CPUs of the load generator, and for each peer that is installed a single proxy (B1) and a pair with mTLS
/// between them (B2, B3) on the proxies' CPUs. Causeway's pair is Sleep's sidecar and the backend's sidecar; its
/// single proxy is Sleep's sidecar calling the backend as a workload with no sidecar (plain HTTP/1.1).
/// </summary>
public sealed class Testbed : IAsyncDisposable
{
    public const int BackendPort = 8080;

    /// <summary>The authority every request names: the mesh service, which HAProxy and nginx ignore.</summary>
    public const string PairHost = "backend.bench:8080";

    public const string SingleHost = "backend-plain.bench:8080";

    /// <summary>
    /// B2/B3's second Causeway pair: the same sidecars and backend, through a service whose DestinationRule sets
    /// <c>h2UpgradePolicy: UPGRADE</c>, so the sidecars speak HTTP/2 to each other as HAProxy's pair does.
    /// </summary>
    public const string PairH2Host = "backend-h2.bench:8080";

    /// <summary>The backend's cleartext HTTP/2 port (B4).</summary>
    public const int BackendH2Port = 8081;

    /// <summary>The authority of B4's requests: the mesh service whose port is HTTP/2 (Istio's protocol GRPC).</summary>
    public const string H2Host = "backend-grpc.bench:8081";

    private const string Cluster = "bench";
    private const string ServerName = "backend.bench.svc.cluster.local";

    private const string BulkServerName = "bulk.bench.svc.cluster.local";
    private const int BulkPort = 9000;

    private readonly List<PinnedProcess> _processes = [];
    private PassthroughBackend? _passthroughBackend;
    private readonly LocalLab _lab;

    private Testbed(LocalLab lab) => _lab = lab;

    public required Peer Direct { get; init; }

    /// <summary>Single proxies (B1), by peer name.</summary>
    public Dictionary<string, Peer> Single { get; } = [];

    /// <summary>Pairs with mTLS between them (B2, B3), by peer name.</summary>
    public Dictionary<string, Peer> Pair { get; } = [];

    /// <summary>B4's gRPC request: a frame around a message of the body size, as a unary call of that size sends it.</summary>
    public byte[] GrpcRequest { get; private init; } = [];

    /// <summary>The backend's answer to B4's gRPC call, byte for byte (the same frame).</summary>
    public byte[] GrpcResponse => GrpcRequest;

    /// <summary>The file h2load sends as each gRPC request's body (<c>-d</c>).</summary>
    public string GrpcRequestFile { get; private set; } = "";

    /// <summary>Pairs carrying HTTP/2 end to end (B4), by peer name; "direct" is the backend's HTTP/2 port.</summary>
    public Dictionary<string, Peer> H2Pair { get; } = [];

    /// <summary>The destination side of each pair (B5): where a caller's mTLS handshake is accepted, by peer name.</summary>
    public Dictionary<string, Peer> ServerSide { get; } = [];

    /// <summary>The SNI a caller's sidecar sends the destination: Istio's outbound cluster name of the service.</summary>
    public static readonly string MeshSni = $"outbound_.{BackendPort}_._.{ServerName}";

    /// <summary>A mesh client certificate (Sleep's identity, the lab's intermediate) for B5's handshakes.</summary>
    public System.Net.Security.SslStreamCertificateContext? ClientCertificate { get; private set; }

    /// <summary>The mesh root, which B5's client validates the destination's chain against.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? MeshRoot { get; private set; }

    /// <summary>SNI passthrough proxies (B6), by peer name; "direct" is the passthrough backend itself.</summary>
    public Dictionary<string, Peer> Passthrough { get; } = [];

    /// <summary>What a remote sidecar sends an east-west gateway first: a ClientHello with a mesh SNI and the mesh ALPN.</summary>
    public byte[] MeshClientHello { get; private set; } = [];

    /// <summary>Peers not run, with why.</summary>
    public Dictionary<string, string> Missing { get; } = [];

    public static async Task<Testbed> StartAsync(string workDir, BenchSettings settings)
    {
        Directory.CreateDirectory(workDir);
        var lab = LocalLab.Open(Path.Combine(workDir, "lab"));
        await lab.CreateClusterAsync(Cluster, "bench-net", "bench-mesh", "default");
        var serverAddress = lab.NextAddress(Cluster);
        var backend = $"{serverAddress}:{BackendPort}";
        var backendH2 = $"{serverAddress}:{BackendH2Port}";
        var testbed = new Testbed(lab) { Direct = new Peer("direct", IPEndPoint.Parse(backend), []), GrpcRequest = GrpcUnary.Frame(settings.BodyBytes) };
        testbed.H2Pair["direct"] = new Peer("direct", IPEndPoint.Parse(backendH2), []);
        try
        {
            var grpcDir = Directory.CreateDirectory(Path.Combine(workDir, "backend", "grpc")).FullName;
            await File.WriteAllBytesAsync(Path.Combine(grpcDir, GrpcUnary.Method), testbed.GrpcResponse);
            await File.WriteAllBytesAsync(testbed.GrpcRequestFile = Path.Combine(workDir, "grpc-request"), testbed.GrpcRequest);
            await testbed.StartNginxAsync(Path.Combine(workDir, "backend"), PeerConfigs.Backend(Path.Combine(workDir, "backend"), backend, backendH2, settings.BodyBytes, grpcDir), settings.LoadCpus, backend, "backend nginx");
            await testbed.StartCausewayAsync(serverAddress, settings.ProxyCpus);
            var certs = PeerCertificates.Issue(Path.Combine(lab.Directory, Cluster, "cacerts"), Path.Combine(workDir, "certs"), ServerName, IPAddress.Parse(serverAddress));
            testbed.ClientCertificate = Load.HandshakeLoad.ClientCertificate(certs.ChainFile("client"), certs.KeyFile("client"));
            testbed.MeshRoot = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(certs.RootFile);

            if (Installed("haproxy") is { } haproxy)
            {
                var single = $"{lab.NextAddress(Cluster)}:10080";
                var (a, b) = ($"{lab.NextAddress(Cluster)}:10080", $"{lab.NextAddress(Cluster)}:10443");
                var p1 = await testbed.StartHaproxyAsync(workDir, "haproxy-single", PeerConfigs.HaproxySingle(single, backend), settings.ProxyCpus, haproxy, single);
                var pb = await testbed.StartHaproxyAsync(workDir, "haproxy-server", PeerConfigs.HaproxyServerSide(b, backend, certs), settings.ProxyCpus, haproxy, b);
                var pa = await testbed.StartHaproxyAsync(workDir, "haproxy-client", PeerConfigs.HaproxyClientSide(a, b, certs, ServerName), settings.ProxyCpus, haproxy, a);
                testbed.Single["haproxy"] = new Peer("haproxy", IPEndPoint.Parse(single), [p1.Pid]);
                testbed.Pair["haproxy"] = new Peer("haproxy", IPEndPoint.Parse(a), [pa.Pid, pb.Pid]);
                testbed.ServerSide["haproxy"] = new Peer("haproxy", IPEndPoint.Parse(b), [pb.Pid]);
                var (a2, b2) = ($"{lab.NextAddress(Cluster)}:10080", $"{lab.NextAddress(Cluster)}:10443");
                var hb = await testbed.StartHaproxyAsync(workDir, "haproxy-h2-server", PeerConfigs.HaproxyH2ServerSide(b2, backendH2, certs), settings.ProxyCpus, haproxy, b2);
                var ha = await testbed.StartHaproxyAsync(workDir, "haproxy-h2-client", PeerConfigs.HaproxyH2ClientSide(a2, b2, certs, ServerName), settings.ProxyCpus, haproxy, a2);
                testbed.H2Pair["haproxy"] = new Peer("haproxy", IPEndPoint.Parse(a2), [ha.Pid, hb.Pid]);
            }
            else
            {
                testbed.Missing["haproxy"] = "haproxy is not installed (bench/run installs it)";
            }

            if (Installed("nginx") is not null)
            {
                var single = $"{lab.NextAddress(Cluster)}:10080";
                var (a, b) = ($"{lab.NextAddress(Cluster)}:10080", $"{lab.NextAddress(Cluster)}:10443");
                var n1 = await testbed.StartNginxAsync(Path.Combine(workDir, "nginx-single"), PeerConfigs.NginxSingle(Path.Combine(workDir, "nginx-single"), single, backend), settings.ProxyCpus, single, "nginx");
                var nb = await testbed.StartNginxAsync(Path.Combine(workDir, "nginx-server"), PeerConfigs.NginxServerSide(Path.Combine(workDir, "nginx-server"), b, backend, certs), settings.ProxyCpus, b, "nginx server side");
                var na = await testbed.StartNginxAsync(Path.Combine(workDir, "nginx-client"), PeerConfigs.NginxClientSide(Path.Combine(workDir, "nginx-client"), a, b, certs, ServerName), settings.ProxyCpus, a, "nginx client side");
                testbed.Single["nginx"] = new Peer("nginx", IPEndPoint.Parse(single), [n1.Pid]);
                testbed.Pair["nginx"] = new Peer("nginx", IPEndPoint.Parse(a), [na.Pid, nb.Pid]);
                testbed.ServerSide["nginx"] = new Peer("nginx", IPEndPoint.Parse(b), [nb.Pid]);
                var (a2, b2) = ($"{lab.NextAddress(Cluster)}:10080", $"{lab.NextAddress(Cluster)}:10443");
                var hb = await testbed.StartNginxAsync(Path.Combine(workDir, "nginx-h2-server"), PeerConfigs.NginxH2ServerSide(Path.Combine(workDir, "nginx-h2-server"), b2, backendH2, certs), settings.ProxyCpus, b2, "nginx HTTP/2 server side");
                var ha = await testbed.StartNginxAsync(Path.Combine(workDir, "nginx-h2-client"), PeerConfigs.NginxH2ClientSide(Path.Combine(workDir, "nginx-h2-client"), a2, b2, certs, ServerName), settings.ProxyCpus, a2, "nginx HTTP/2 client side");
                testbed.H2Pair["nginx"] = new Peer("nginx", IPEndPoint.Parse(a2), [ha.Pid, hb.Pid]);
            }
            else
            {
                testbed.Missing["nginx"] = "nginx is not installed (bench/run installs it)";
            }

            if (settings.Scenarios.Contains("B6"))
            {
                await testbed.StartPassthroughAsync(workDir, settings.ProxyCpus);
            }

            return testbed;
        }
        catch
        {
            await testbed.DisposeAsync();
            throw;
        }
    }

    /// <summary>The full path of a program, or null when it is not installed.</summary>
    public static string? Installed(string program) => NetworkFabric.Find(program);

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            p.Dispose();
        }

        if (_passthroughBackend is not null)
        {
            await _passthroughBackend.DisposeAsync();
        }

        await _lab.DownAsync();
    }

    private async Task StartCausewayAsync(string serverAddress, string cpus)
    {
        var sleepAddress = _lab.NextAddress(Cluster);
        var backend = await _lab.StartSidecarAsync(Cluster, $$"""
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: backend, namespace: bench}
            spec:
              hosts: [{{ServerName}}]
              ports: [{number: {{BackendPort}}, name: http, protocol: HTTP}]
              workloadSelector:
                labels: {app: backend}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: backend-1, namespace: bench}
            spec:
              address: {{serverAddress}}
              ports: {http: {{BackendPort}}}
              labels: {app: backend, security.istio.io/tlsMode: istio}
              serviceAccount: backend
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: backend-plain, namespace: bench}
            spec:
              hosts: [backend-plain.bench.svc.cluster.local]
              ports: [{number: {{BackendPort}}, name: http, protocol: HTTP}]
              workloadSelector:
                labels: {app: backend-plain}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: backend-plain-1, namespace: bench}
            spec:
              address: {{serverAddress}}
              ports: {http: {{BackendPort}}}
              labels: {app: backend-plain, security.istio.io/tlsMode: disabled}
              serviceAccount: backend
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: backend-grpc, namespace: bench}
            spec:
              hosts: [backend-grpc.bench.svc.cluster.local]
              ports: [{number: {{BackendH2Port}}, name: grpc, protocol: GRPC}]
              workloadSelector:
                labels: {app: backend}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: backend-h2, namespace: bench}
            spec:
              hosts: [backend-h2.bench.svc.cluster.local]
              ports: [{number: {{BackendPort}}, name: http, protocol: HTTP}]
              workloadSelector:
                labels: {app: backend}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: backend-h2, namespace: bench}
            spec:
              host: backend-h2.bench.svc.cluster.local
              trafficPolicy:
                connectionPool:
                  http: {h2UpgradePolicy: UPGRADE}
            """, "backend-1", "bench", "backend", serverAddress, new Dictionary<string, string> { ["app"] = "backend" }, cpus);
        var sleep = await _lab.StartSidecarAsync(Cluster, "", "sleep", "bench", "sleep", sleepAddress, new Dictionary<string, string> { ["app"] = "sleep" }, cpus);
        var entry = IPEndPoint.Parse($"{sleepAddress}:15001");
        Single["causeway"] = new Peer("causeway", entry, [sleep.Pid]);
        Pair["causeway"] = new Peer("causeway", entry, [sleep.Pid, backend.Pid]);
        Pair["causeway-h2"] = new Peer("causeway-h2", entry, [sleep.Pid, backend.Pid], PairH2Host);
        H2Pair["causeway"] = new Peer("causeway", entry, [sleep.Pid, backend.Pid]);
        ServerSide["causeway"] = new Peer("causeway", IPEndPoint.Parse($"{serverAddress}:{Causeway.Proxy.ProxyOptions.DefaultInboundPort}"), [backend.Pid]);
    }

    /// <summary>
    /// B6: one backend behind every SNI passthrough proxy. Causeway's is the cluster's east-west gateway exposing
    /// <c>*.local</c> (the seed's expose-services.yaml), routing to a workload whose sidecar port is the backend.
    /// </summary>
    private async Task StartPassthroughAsync(string workDir, string cpus)
    {
        var address = _lab.NextAddress(Cluster);
        var upstream = $"{address}:{Causeway.Proxy.ProxyOptions.DefaultInboundPort}";
        _passthroughBackend = PassthroughBackend.Start(IPEndPoint.Parse(upstream));
        MeshClientHello = Causeway.Testing.ClientHellos.Capture($"outbound_.{BulkPort}_._.{BulkServerName}");
        Passthrough["direct"] = new Peer("direct", _passthroughBackend.Endpoint, []);

        await _lab.ApplyAsync(Cluster, $$"""
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: bulk, namespace: bench}
            spec:
              hosts: [{{BulkServerName}}]
              ports: [{number: {{BulkPort}}, name: tcp, protocol: TCP}]
              workloadSelector:
                labels: {app: bulk}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: bulk-1, namespace: bench}
            spec:
              address: {{address}}
              labels: {app: bulk, security.istio.io/tlsMode: istio}
              serviceAccount: bulk
            """ + "\n---\n" + Causeway.Testing.Manifests.ExposeServices);
        var network = _lab.Cluster(Cluster).Network;
        var gateway = await _lab.InstallGatewayAsync(Cluster, network, new Dictionary<string, string> { ["istio"] = "eastwestgateway", ["topology.istio.io/network"] = network }, cpus);
        await AddPassthroughAsync("causeway", IPEndPoint.Parse($"{gateway.Address}:15443"), gateway.Pid);

        if (Installed("haproxy") is { } haproxy)
        {
            foreach (var (name, splice) in new[] { ("haproxy", false), ("haproxy-splice", true) })
            {
                var listen = $"{_lab.NextAddress(Cluster)}:15443";
                var process = await StartHaproxyAsync(workDir, name + "-sni", PeerConfigs.HaproxySniPassthrough(listen, upstream, splice), cpus, haproxy, listen);
                await AddPassthroughAsync(name, IPEndPoint.Parse(listen), process.Pid);
            }
        }

        if (Installed("nginx") is not null && File.Exists(PeerConfigs.NginxStreamModule))
        {
            var listen = $"{_lab.NextAddress(Cluster)}:15443";
            var dir = Path.Combine(workDir, "nginx-sni");
            var process = await StartNginxAsync(dir, PeerConfigs.NginxSniPassthrough(dir, listen, upstream), cpus, listen, "nginx ssl_preread");
            await AddPassthroughAsync("nginx", IPEndPoint.Parse(listen), process.Pid);
        }
        else if (Installed("nginx") is not null)
        {
            Missing["nginx (B6)"] = $"nginx's stream module ({PeerConfigs.NginxStreamModule}) is not installed (bench/run installs libnginx-mod-stream)";
        }
    }

    /// <summary>Adds a passthrough peer once a connection through it reaches the backend (the gateway may still be taking its configuration).</summary>
    private async Task AddPassthroughAsync(string name, IPEndPoint entry, int pid)
    {
        var load = new Load.PassthroughLoad(entry, MeshClientHello);
        for (var attempt = 0; ; attempt++)
        {
            if ((await load.ConnectionsAsync(1, TimeSpan.Zero)).Completed == 1)
            {
                break;
            }

            if (attempt == 100)
            {
                throw new InvalidOperationException($"{name} at {entry} did not pass a mesh ClientHello through to the backend within 10 s");
            }

            await Task.Delay(100);
        }

        Passthrough[name] = new Peer(name, entry, [pid]);
    }

    private async Task<PinnedProcess> StartNginxAsync(string dir, string config, string cpus, string listen, string what)
    {
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "nginx.conf");
        await File.WriteAllTextAsync(file, config);
        var process = PinnedProcess.Start(cpus, Path.Combine(dir, "stderr.log"), Installed("nginx") ?? "nginx", "-p", dir, "-c", file, "-e", Path.Combine(dir, "error.log"));
        _processes.Add(process);
        await process.WaitListeningAsync(IPEndPoint.Parse(listen), what);
        return process;
    }

    private async Task<PinnedProcess> StartHaproxyAsync(string workDir, string name, string config, string cpus, string haproxy, string listen)
    {
        var file = Path.Combine(workDir, name + ".cfg");
        await File.WriteAllTextAsync(file, config);
        var process = PinnedProcess.Start(cpus, Path.Combine(workDir, name + ".log"), haproxy, "-db", "-f", file);
        _processes.Add(process);
        await process.WaitListeningAsync(IPEndPoint.Parse(listen), name);
        return process;
    }
}
