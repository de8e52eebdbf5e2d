using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Resources;
using Causeway.Core.Security;
using Causeway.Lab;
using Causeway.LoadBench.Measure;
using Google.Protobuf;
using Grpc.Core;

namespace Causeway.LoadBench.Scenarios;

/// <summary>
/// B8, control-plane scale: two lab clusters on two networks joined by remote secrets, each registering every service
/// with half of its endpoints, and many simulated sidecars of cluster 1 on cluster 1's discovery stream, each with its
/// own TLS connection and token-checked stream. It measures the first full push to every client, then pushes caused by
/// a new endpoint in cluster 2 (every client's configuration changes: the gateway's weight for that service), each timed
/// from the apply until the last client has received, and acknowledged, the new configuration; and the control plane's
/// memory per connected proxy (its RSS with the clients connected and served minus its RSS before they came).
/// </summary>
public sealed class ControlPlaneScaleRun(string workDir, BenchSettings settings, TextWriter log)
{
    private const string Namespace = "scale";
    private const int ApplyBatch = 1000;

    /// <summary>The figures of one B8 run.</summary>
    public sealed record Result(
        int Services,
        int Endpoints,
        int Clients,
        double ConfigBytes,
        double WireBytes,
        double InitialPushSeconds,
        double InitialPushCpuSeconds,
        double InitialPushClientsCpuSeconds,
        IReadOnlyList<double> PushSeconds,
        IReadOnlyList<double> PushCpuSeconds,
        IReadOnlyList<double> LocalPushSeconds,
        IReadOnlyList<double> LocalPushCpuSeconds,
        IReadOnlyList<double> FullPushSeconds,
        IReadOnlyList<double> FullPushCpuSeconds,
        double RssBeforeMiB,
        double RssAfterMiB,
        double MemoryPerProxyKiB,
        Handshakes HandshakesAlone,
        Storm Reconnect);

    /// <summary>
    /// Every client connecting at once until each has its first configuration: how long, when all had connected and
    /// asked, and the CPU it cost the control plane and the clients' process.
    /// </summary>
    public sealed record Storm(double Seconds, double Connected, double ControlPlaneCpuSeconds, double ClientsCpuSeconds);

    /// <summary>
    /// The first push's TLS handshakes alone, to the same port: how long they took all at once, and the CPU they cost the
    /// control plane and the clients' process (which simulates every sidecar on one CPU).
    /// </summary>
    public sealed record Handshakes(int Count, double Seconds, double ControlPlaneCpuSeconds, double ClientsCpuSeconds);

    public async Task<Result> RunAsync()
    {
        var lab = LocalLab.Open(Path.Combine(workDir, "scale-lab"));
        var clients = new List<SimulatedSidecar>();
        try
        {
            var c1 = await lab.CreateClusterAsync("scale1", "scale-net1", "scale-mesh", "default");
            var c2 = await lab.CreateClusterAsync("scale2", "scale-net2", "scale-mesh", "default");
            var controlPlane = lab.State.Processes.Single(p => p.Cluster == c1.Name && p.Role == "control-plane").Pid;
            await PinAsync(controlPlane, settings.ProxyCpus);
            using var admin1 = lab.Admin(c1);
            using var admin2 = lab.Admin(c2);
            var root = await File.ReadAllTextAsync(Path.Combine(lab.RootDirectory, CaDirectory.RootCert));

            var started = Stopwatch.GetTimestamp();
            await ApplyAsync(admin1, [Manifest.Namespace(Namespace), .. Services()]);
            await ApplyAsync(admin2, [Manifest.Namespace(Namespace), .. Services()]);
            var perCluster = settings.ScaleEndpointsPerService / 2;
            await ApplyAsync(admin1, Workloads(1, perCluster));
            await ApplyAsync(admin2, Workloads(2, perCluster));
            await lab.InstallGatewayAsync(c2.Name, c2.Network, new Dictionary<string, string> { ["istio"] = "eastwestgateway", ["topology.istio.io/network"] = c2.Network });
            await ApplyAsync(admin1, [await RemoteSecrets.CreateAsync(admin2, root)]);
            log.WriteLine($"B8: {settings.ScaleServices:N0} services and {settings.ScaleServices * perCluster * 2:N0} endpoints registered in two clusters in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");

            var token = (await admin1.Registry.IssueTokenAsync(new IssueTokenRequest { Scope = "workload", Namespace = Namespace, ServiceAccount = "client" })).Token;
            // The control plane has built its first topology of the whole mesh once a single client has its configuration.
            var probe = await SimulatedSidecar.OpenAsync(new Uri(c1.DiscoveryServer), root, token, Node(c1, -1));
            await probe.WaitForVersionAsync(v => v.Services == settings.ScaleServices && v.RemoteGatewayWeight == settings.ScaleServices * perCluster, TimeSpan.FromMinutes(5), "the whole mesh");
            var (configBytes, wireBytes) = (probe.LastConfigSize, probe.LastSize);
            await probe.DisposeAsync();
            await Task.Delay(TimeSpan.FromSeconds(2));
            var rssBefore = ProcessUsage.RssMiB([controlPlane]);

            var storm = await StormAsync(c1, root, token, controlPlane, clients);
            var (initial, initialCpu, harnessCpu) = (storm.Seconds, storm.ControlPlaneCpuSeconds, storm.ClientsCpuSeconds);
            log.WriteLine($"B8: {clients.Count:N0} clients connected and served {configBytes / 1e6:F2} MB each ({wireBytes / 1e6:F2} MB on the wire) in {initial:F2} s (all had connected and sent their first request after {storm.Connected:F2} s); control-plane CPU {initialCpu:F2} s, the clients' (this process) {harnessCpu:F2} s");

            // A new endpoint in cluster 2 changes every client's configuration through the remote's watch (the gateway's
            // weight for that service). The same change in cluster 1 itself is the common case in a real mesh (a pod of
            // this cluster comes or goes): it passes through this control plane's own registry and local policies.
            var expected = settings.ScaleServices * perCluster;
            var (pushes, cpu) = await ChangesAsync(admin2, "change", "added", 250, clients, controlPlane, c => c.RemoteGatewayWeight, expected, "gateway weight");
            var (localPushes, localCpu) = await ChangesAsync(admin1, "local change", "local", 251, clients, controlPlane, c => c.LocalEndpoints, expected, "endpoints in cluster 1");

            // A full push, in Istio's sense: a change to every service of every client's configuration, so that each client
            // is sent a complete one again. A second replica of cluster 2's east-west gateway is one: every service's remote
            // endpoints are then split over two gateway addresses. Each further step moves that replica to a new address.
            var fullPushes = new List<double>();
            var fullCpu = new List<double>();
            for (var step = -2; step < settings.ScaleFullPushes; step++)
            {
                var versions = clients.Select(c => c.Version).ToList();
                var address = lab.NextAddress(c2.Name);
                var clock = new PhaseClock(controlPlane);
                await ApplyAsync(admin2, [Manifest.GatewayReplica(c2.Network, address)]);
                await Task.WhenAll(clients.Select((c, i) => c.WaitForVersionAsync(v => v.Version > versions[i], TimeSpan.FromMinutes(5), $"the gateway replica at {address}")));
                var seconds = clock.Seconds;
                var reached = clients[0].Last.GatewayEndpointsAt(address);
                if (reached != settings.ScaleServices)
                {
                    throw new InvalidOperationException($"after moving the gateway replica to {address} the first client routes {reached} services through it, not {settings.ScaleServices}");
                }

                // Two steps are warm-up: from one gateway to two (every service built again), and the first move (the
                // path that puts the gateways' new addresses into the services runs for the first time).
                if (step >= 0)
                {
                    fullPushes.Add(seconds);
                    fullCpu.Add(clock.ControlPlaneCpuSeconds);
                    var first = Stopwatch.GetElapsedTime(clock.Started, clients.Min(c => c.LastArrivedAt)).TotalMilliseconds;
                    var clientsCpu = clock.ClientsCpuSeconds;
                    log.WriteLine($"B8: full push {step + 1} (the gateway replica at {address}) reached the first client in {first:F0} ms, all {clients.Count:N0} in {seconds * 1000:F0} ms; control-plane CPU {fullCpu[^1]:F2} s, the clients' (this process) {clientsCpu:F2} s");
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            var rssAfter = ProcessUsage.RssMiB([controlPlane]);
            var count = clients.Count;
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }

            clients.Clear();
            await Task.Delay(TimeSpan.FromSeconds(2));
            var handshakes = await HandshakesAloneAsync(new Uri(c1.DiscoveryServer), root, count, controlPlane);
            log.WriteLine($"B8: {handshakes.Count:N0} TLS handshakes alone, all at once to the same port (no HTTP/2, no gRPC), in {handshakes.Seconds:F2} s; control-plane CPU {handshakes.ControlPlaneCpuSeconds:F2} s, the clients' (this process) {handshakes.ClientsCpuSeconds:F2} s");

            // The same storm again, now that the control plane has run its code for a while (what it meets when its proxies
            // reconnect after a network partition, rather than after its own start): the first push less its first-run cost.
            await Task.Delay(TimeSpan.FromSeconds(2));
            var again = await StormAsync(c1, root, token, controlPlane, clients);
            log.WriteLine($"B8: the same {clients.Count:N0} clients reconnecting at once to the running control plane were served in {again.Seconds:F2} s; control-plane CPU {again.ControlPlaneCpuSeconds:F2} s, the clients' (this process) {again.ClientsCpuSeconds:F2} s");
            return new Result(settings.ScaleServices, settings.ScaleServices * perCluster * 2, count, configBytes, wireBytes, initial, initialCpu, harnessCpu, pushes, cpu,
                localPushes, localCpu, fullPushes, fullCpu, rssBefore, rssAfter, (rssAfter - rssBefore) * 1024 / count, handshakes, again);
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }

            await lab.DownAsync();
        }
    }

    /// <summary>
    /// Adds an endpoint through <paramref name="admin"/> per change, after one warm-up (the push path runs for the first
    /// time at this size), each timed until every client has it and checked on the first client.
    /// </summary>
    private async Task<(List<double> Seconds, List<double> Cpu)> ChangesAsync(
        ControlPlaneConnection admin, string what, string prefix, int octet, List<SimulatedSidecar> clients, int controlPlane, Func<ConfigSummary, long> count, long before, string counted)
    {
        var seconds = new List<double>();
        var cpu = new List<double>();
        for (var change = -1; change < settings.ScalePushes; change++)
        {
            var versions = clients.Select(c => c.Version).ToList();
            var clock = new PhaseClock(controlPlane);
            var index = change + 1;
            await ApplyAsync(admin, [Manifest.Workload(Service(index % settings.ScaleServices), $"{prefix}-{index}", $"10.{octet}.{index / 250}.{index % 250 + 1}")]);
            await Task.WhenAll(clients.Select((c, i) => c.WaitForVersionAsync(v => v.Version > versions[i], TimeSpan.FromMinutes(5), $"{what} {index}")));
            var elapsed = clock.Seconds;
            var seen = count(clients[0].Last);
            if (seen != before + index + 1)
            {
                throw new InvalidOperationException($"after {what} {index} the first client sees {seen} ({counted}), not {before + index + 1}");
            }

            if (change >= 0)
            {
                seconds.Add(elapsed);
                cpu.Add(clock.ControlPlaneCpuSeconds);
                log.WriteLine($"B8: {what} {index} reached all {clients.Count:N0} clients in {elapsed * 1000:F0} ms; control-plane CPU {cpu[^1]:F2} s");
            }
        }

        return (seconds, cpu);
    }

    /// <summary>
    /// Connects <see cref="BenchSettings.ScaleClients"/> simulated sidecars of <paramref name="cluster"/> at once into
    /// <paramref name="clients"/>, and waits until each has read its first configuration.
    /// </summary>
    private async Task<Storm> StormAsync(LabCluster cluster, string root, string token, int controlPlane, List<SimulatedSidecar> clients)
    {
        var clock = new PhaseClock(controlPlane);
        var opening = Enumerable.Range(0, settings.ScaleClients).Select(i => SimulatedSidecar.OpenAsync(new Uri(cluster.DiscoveryServer), root, token, Node(cluster, i), fullParse: i == 0));
        clients.AddRange(await Task.WhenAll(opening));
        var connected = clock.Seconds;
        await Task.WhenAll(clients.Select(c => c.WaitForVersionAsync(v => v.Version >= 0, TimeSpan.FromMinutes(5), "a first configuration")));
        return new Storm(clock.Seconds, connected, clock.ControlPlaneCpuSeconds, clock.ClientsCpuSeconds);
    }

    /// <summary>
    /// Opens <paramref name="count"/> TLS connections at once to <paramref name="address"/> as the clients' channels do
    /// (their TLS options, ALPN h2), and closes them once every handshake is done: what the first push's handshakes
    /// alone cost, so that the rest of it (HTTP/2, gRPC, the configuration) can be told apart.
    /// </summary>
    private static async Task<Handshakes> HandshakesAloneAsync(Uri address, string root, int count, int controlPlane)
    {
        var options = ControlPlaneConnection.TlsOptions(root);
        options.TargetHost = address.IdnHost;
        options.ApplicationProtocols = [SslApplicationProtocol.Http2];
        var clock = new PhaseClock(controlPlane);
        var connecting = Enumerable.Range(0, count).Select(_ => HandshakeAsync(address, options)).ToList();
        try
        {
            await Task.WhenAll(connecting);
            return new Handshakes(count, clock.Seconds, clock.ControlPlaneCpuSeconds, clock.ClientsCpuSeconds);
        }
        finally
        {
            foreach (var c in connecting)
            {
                if (c.IsCompletedSuccessfully)
                {
                    await c.Result.DisposeAsync();
                }
            }
        }
    }

    private static async Task<SslStream> HandshakeAsync(Uri address, SslClientAuthenticationOptions options)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(address.Host, address.Port);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
        try
        {
            // SslStream copies what it needs of the options, so every connection can be given the same ones.
            await tls.AuthenticateAsClientAsync(options);
            return tls;
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    /// <summary>Moves every thread of a running process to <paramref name="cpus"/>, so the clients here do not share its core.</summary>
    private static async Task PinAsync(int pid, string cpus)
    {
        using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-p", "-c", cpus, pid.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true })!;
        await taskset.WaitForExitAsync();
        if (taskset.ExitCode != 0)
        {
            throw new InvalidOperationException($"taskset could not pin process {pid} to CPU {cpus}");
        }
    }

    private IEnumerable<Resource> Services()
    {
        for (var i = 0; i < settings.ScaleServices; i++)
        {
            yield return Manifest.Service(Service(i));
        }
    }

    private IEnumerable<Resource> Workloads(int cluster, int perService)
    {
        for (var i = 0; i < settings.ScaleServices; i++)
        {
            for (var j = 0; j < perService; j++)
            {
                var n = i * perService + j;
                yield return Manifest.Workload(Service(i), $"{Service(i)}-c{cluster}-{j}", $"10.{cluster * 10 + n / 62500}.{n / 250 % 250}.{n % 250 + 1}");
            }
        }
    }

    private static string Service(int i) => "svc-" + i.ToString("D4", CultureInfo.InvariantCulture);

    private ProxyNode Node(LabCluster cluster, int i) => new()
    {
        Id = $"client-{i}.{Namespace}",
        WorkloadName = $"client-{i}",
        Namespace = Namespace,
        ServiceAccount = "client",
        Network = cluster.Network,
        Cluster = cluster.Name,
        Revision = cluster.Revision,
        Role = ProxyRole.Sidecar,
        Labels = { ["app"] = "client" },
        AcceptsCompressedConfig = settings.ScaleCompression != "none",
        AcceptedCompressions = { settings.ScaleCompression == "br" ? [ConfigCompression.Brotli] : Array.Empty<ConfigCompression>() },
    };

    private static async Task ApplyAsync(ControlPlaneConnection admin, IEnumerable<Resource> resources)
    {
        foreach (var batch in resources.Chunk(ApplyBatch))
        {
            var request = new ApplyRequest();
            request.Resources.AddRange(batch.Select(WireDocuments.ToDocument));
            await admin.Registry.ApplyAsync(request, deadline: DateTime.UtcNow.AddMinutes(5));
        }
    }

    /// <summary>
    /// One measured phase from its start: seconds since, and the CPU used since by the control plane and by the clients
    /// (this process). The clients' own TLS handshakes and reads share one CPU here; how busy they kept it says how
    /// much of a phase's time is the benchmark's rather than the control plane's.
    /// </summary>
    private readonly struct PhaseClock(int controlPlane)
    {
        private readonly double _cpu = ProcessUsage.CpuSeconds([controlPlane]);
        private readonly double _clientsCpu = ProcessUsage.CpuSeconds([Environment.ProcessId]);

        /// <summary>When the phase began (<see cref="Stopwatch.GetTimestamp"/>).</summary>
        public long Started { get; } = Stopwatch.GetTimestamp();

        public double Seconds => Stopwatch.GetElapsedTime(Started).TotalSeconds;

        public double ControlPlaneCpuSeconds => ProcessUsage.CpuSeconds([controlPlane]) - _cpu;

        public double ClientsCpuSeconds => ProcessUsage.CpuSeconds([Environment.ProcessId]) - _clientsCpu;
    }

    /// <summary>The Istio-shaped resources of the simulated mesh, parsed as the CLI parses them.</summary>
    private static class Manifest
    {
        public static Resource Namespace(string name) => One($"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{istio.io/rev: default}}}}\n");

        public static Resource Service(string name) => One($$"""
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: {{name}}, namespace: {{ControlPlaneScaleRun.Namespace}}}
            spec:
              hosts: [{{name}}.{{ControlPlaneScaleRun.Namespace}}.svc.cluster.local]
              ports: [{number: 8080, name: http, protocol: HTTP}]
              workloadSelector:
                labels: {app: {{name}}}
            """);

        public static Resource Workload(string service, string name, string address) => One($$"""
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: {{name}}, namespace: {{ControlPlaneScaleRun.Namespace}}}
            spec:
              address: {{address}}
              labels: {app: {{service}}, version: v1}
              serviceAccount: {{service}}
            """);

        /// <summary>A second replica of the east-west gateway: selected by the gateway's ServiceEntry, as its pods are.</summary>
        public static Resource GatewayReplica(string network, string address) => One($$"""
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: istio-eastwestgateway-replica, namespace: istio-system}
            spec:
              address: {{address}}
              labels: {istio: eastwestgateway, topology.istio.io/network: "{{network}}"}
              serviceAccount: istio-eastwestgateway
            """);

        private static Resource One(string yaml) => ResourceDocuments.ParseYaml(yaml).Single();
    }

    /// <summary>What a simulated sidecar keeps of a configuration.</summary>
    public sealed record ConfigSummary(long Version, int Services, long RemoteGatewayWeight, IReadOnlyDictionary<string, int>? ServicesByGateway = null, int LocalEndpoints = 0)
    {
        /// <summary>How many of the simulated services route through a gateway at <paramref name="address"/> (full parse only).</summary>
        public int GatewayEndpointsAt(string address) => ServicesByGateway?.GetValueOrDefault(address) ?? 0;
    }

    /// <summary>
    /// A discovery client as a sidecar runs it (its own channel, node, token; every response ACKed), which reads each
    /// response whole off the wire but builds the configuration's objects only when asked to (one client per run):
    /// building 1,000 copies of a multi-megabyte configuration in one process would measure this process, not the
    /// control plane, and a real sidecar pays that on its own CPU.
    /// </summary>
    private sealed class SimulatedSidecar : IAsyncDisposable
    {
        private static readonly Marshaller<DiscoveryRequest> Requests = Marshallers.Create((DiscoveryRequest r) => r.ToByteArray(), DiscoveryRequest.Parser.ParseFrom);

        // The client that builds the configuration gets each response's bytes; the others decode the response's own
        // fields straight from gRPC's buffers, skipping the configuration, so that this process does not allocate (and
        // collect) a fresh copy of every response for each of 1,000 clients. Every byte is still received, decrypted
        // and framed.
        private static readonly Method<DiscoveryRequest, Received> WholeResponses = new(
            MethodType.DuplexStreaming, Causeway.Api.V1.Discovery.Descriptor.FullName, "StreamConfig", Requests,
            new Marshaller<Received>(static (_, _) => throw new NotSupportedException(), static context => Received.Whole(context.PayloadAsNewBuffer())));

        private static readonly Method<DiscoveryRequest, Received> ResponseHeads = new(
            MethodType.DuplexStreaming, Causeway.Api.V1.Discovery.Descriptor.FullName, "StreamConfig", Requests,
            new Marshaller<Received>(static (_, _) => throw new NotSupportedException(), static context => Received.Head(context.PayloadAsReadOnlySequence())));

        private readonly ControlPlaneConnection _connection;
        private readonly AsyncDuplexStreamingCall<DiscoveryRequest, Received> _call;
        private readonly SemaphoreSlim _arrived = new(0);
        private readonly Task _reader;
        private readonly DiscoveryUpdates _updates = new();
        private ConfigSummary _last = new(-1, 0, 0);

        private SimulatedSidecar(ControlPlaneConnection connection, AsyncDuplexStreamingCall<DiscoveryRequest, Received> call)
        {
            _connection = connection;
            _call = call;
            _reader = Task.Run(ReadAsync);
        }

        public ConfigSummary Last => Volatile.Read(ref _last);

        public long Version => Last.Version;

        /// <summary>When the last response arrived (<see cref="Stopwatch.GetTimestamp"/>).</summary>
        public long LastArrivedAt { get; private set; }

        /// <summary>The last response's size on the wire (gRPC's payload).</summary>
        public int LastSize { get; private set; }

        /// <summary>With a full parse: the size of the last complete configuration, expanded and merged.</summary>
        public int LastConfigSize { get; private set; }

        public static async Task<SimulatedSidecar> OpenAsync(Uri address, string rootPem, string token, ProxyNode node, bool fullParse = true)
        {
            var connection = ControlPlaneConnection.Create(address, rootPem, token, TimeSpan.FromSeconds(30));
            var call = connection.CallInvoker.AsyncDuplexStreamingCall(fullParse ? WholeResponses : ResponseHeads, null, new CallOptions());
            await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = node });
            return new SimulatedSidecar(connection, call);
        }

        public async Task WaitForVersionAsync(Func<ConfigSummary, bool> condition, TimeSpan timeout, string what)
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            while (!condition(Last))
            {
                if (_reader.IsCompleted)
                {
                    throw new InvalidOperationException($"the discovery stream ended while waiting for {what}", _reader.Exception);
                }

                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"no configuration with {what} within {timeout}; last: {Last}");
                }

                await _arrived.WaitAsync(TimeSpan.FromMilliseconds(100));
            }
        }

        public async ValueTask DisposeAsync()
        {
            _call.Dispose();
            try
            {
                await _reader;
            }
            catch (Exception)
            {
            }

            _connection.Dispose();
            _arrived.Dispose();
        }

        private async Task ReadAsync()
        {
            await foreach (var received in _call.ResponseStream.ReadAllAsync())
            {
                LastArrivedAt = Stopwatch.GetTimestamp();
                var (version, nonce, summary) = received.Bytes is { } bytes
                    ? Build(bytes)
                    : (received.Version, received.Nonce, new ConfigSummary(long.Parse(received.Version, CultureInfo.InvariantCulture), 0, 0));
                LastSize = received.Size;
                Volatile.Write(ref _last, summary);
                await _call.RequestStream.WriteAsync(new DiscoveryRequest { VersionInfo = version, ResponseNonce = nonce });
                _arrived.Release();
            }
        }

        private (string Version, string Nonce, ConfigSummary Summary) Build(byte[] bytes)
        {
            var response = DiscoveryResponse.Parser.ParseFrom(bytes);
            var config = _updates.Resolve(response);
            _updates.Accepted(response.VersionInfo, config);
            LastConfigSize = config.CalculateSize();
            long weight = 0;
            var services = 0;
            var local = 0;
            var byGateway = new Dictionary<string, int>();
            foreach (var service in config.Services)
            {
                if (service.Namespace != Namespace)
                {
                    continue;
                }

                services++;
                foreach (var port in service.Ports)
                {
                    foreach (var e in port.Endpoints)
                    {
                        if (e.ViaGateway)
                        {
                            weight += e.Weight;
                            byGateway[e.Address] = byGateway.GetValueOrDefault(e.Address) + 1;
                        }
                        else
                        {
                            local++;
                        }
                    }
                }
            }

            return (response.VersionInfo, response.Nonce, new ConfigSummary(long.Parse(response.VersionInfo, CultureInfo.InvariantCulture), services, weight, byGateway, local));
        }
    }

    /// <summary>A discovery response as a simulated sidecar keeps it: its size, and either its bytes or only its own version and nonce.</summary>
    private sealed record Received(int Size, string Version, string Nonce, byte[]? Bytes)
    {
        public static Received Whole(byte[] bytes) => new(bytes.Length, "", "", bytes);

        /// <summary>The response's version and nonce, read from protobuf's wire format with every other field skipped.</summary>
        public static Received Head(ReadOnlySequence<byte> payload)
        {
            var reader = new SequenceReader<byte>(payload);
            string version = "", nonce = "";
            while (!reader.End)
            {
                var tag = ReadVarint(ref reader);
                var wireType = (WireFormat.WireType)(tag & 7);
                var field = (int)(tag >> 3);
                if (wireType == WireFormat.WireType.Varint)
                {
                    ReadVarint(ref reader);
                    continue;
                }

                if (wireType != WireFormat.WireType.LengthDelimited)
                {
                    throw new InvalidDataException($"field {field} of a discovery response has wire type {wireType}, which no field of it has");
                }

                var length = (int)ReadVarint(ref reader);
                if (field is DiscoveryResponse.VersionInfoFieldNumber or DiscoveryResponse.NonceFieldNumber)
                {
                    var text = Encoding.UTF8.GetString(payload.Slice(reader.Position, length));
                    if (field == DiscoveryResponse.VersionInfoFieldNumber)
                    {
                        version = text;
                    }
                    else
                    {
                        nonce = text;
                    }
                }

                reader.Advance(length);
            }

            return new((int)payload.Length, version, nonce, null);
        }

        private static ulong ReadVarint(ref SequenceReader<byte> reader)
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (!reader.TryRead(out var b))
                {
                    throw new InvalidDataException("a discovery response ends inside a varint");
                }

                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new InvalidDataException("a varint of a discovery response is longer than 10 bytes");
        }
    }
}
