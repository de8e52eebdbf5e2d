using System.Net;
using Causeway.Api.V1;
using Causeway.ControlPlane;
using Causeway.Core.Client;
using Causeway.Core.Resources;
using Causeway.Core.Security;
using Causeway.Testing;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>
/// Control planes, applications, sidecars and gateways in this test process, each pod on its own loopback address
/// so that every listener keeps its real port. Everything is stopped on dispose.
/// </summary>
internal sealed class DataPlaneLab : IAsyncDisposable
{
    public const string Host = "helloworld.sample.svc.cluster.local";

    private readonly TempDirectory _dir = new("causeway-dataplane");
    private readonly CertificateAuthority _root = CertificateAuthority.CreateRoot();
    private readonly List<IAsyncDisposable> _owned = [];

    public string RootPem => _root.RootPem;

    /// <summary>The mesh root, for tests that forge or bend certificates.</summary>
    public CertificateAuthority Root => _root;

    public sealed record Cluster(string Name, string Network, ControlPlaneOptions Options, ControlPlaneServer Server, ControlPlaneConnection Admin)
    {
        public async Task ApplyAsync(string yaml)
        {
            var request = new ApplyRequest();
            request.Resources.AddRange(ResourceDocuments.ParseYaml(yaml).Select(WireDocuments.ToDocument));
            await Admin.Registry.ApplyAsync(request);
        }

        public async Task DeleteAsync(string kind, string ns, string name) =>
            await Admin.Registry.DeleteAsync(new ResourceRef { Kind = kind, Namespace = ns, Name = name });

        public async Task<string> TokenAsync(string ns, string serviceAccount) =>
            (await Admin.Registry.IssueTokenAsync(new IssueTokenRequest { Scope = "workload", Namespace = ns, ServiceAccount = serviceAccount })).Token;
    }

    public async Task<Cluster> StartClusterAsync(string name, string network, TimeSpan? certificateLifetime = null)
    {
        var caDir = Path.Combine(_dir.Path, name + "-ca");
        using (var intermediate = _root.CreateIntermediate(name))
        {
            CaDirectory.WriteIntermediate(intermediate, caDir);
        }

        var address = LoopbackAddresses.Next(15012, 15014);
        var options = new ControlPlaneOptions
        {
            Cluster = name,
            Network = network,
            MeshId = "proj-1234",
            DataDirectory = Path.Combine(_dir.Path, name),
            CaDirectory = caDir,
            DiscoveryEndpoint = new IPEndPoint(address, 15012),
            MonitoringEndpoint = new IPEndPoint(address, 15014),
            DebounceAfter = TimeSpan.FromMilliseconds(20),
            CaReloadInterval = TimeSpan.FromMilliseconds(200),
            WorkloadCertificateLifetime = certificateLifetime ?? TimeSpan.FromHours(24),
        };
        var server = await ControlPlaneServer.StartAsync(options);
        _owned.Add(server);
        var admin = ControlPlaneConnection.Create(server.DiscoveryAddress, RootPem, await File.ReadAllTextAsync(Path.Combine(_dir.Path, name, "admin-token")));
        _owned.Add(new Disposer(admin.Dispose));
        return new Cluster(name, network, options, server, admin);
    }

    /// <summary>Replaces one file of the cluster's CA directory whole, as a Kubernetes secret update does; the control plane (re-reading every 200 ms here) may read the directory between two files.</summary>
    public static void WriteCaFile(Cluster cluster, string file, string content)
    {
        var path = Path.Combine(cluster.Options.CaDirectory!, file);
        File.WriteAllText(path + ".tmp", content);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Starts a stopped cluster's control plane again on the same address and data directory.</summary>
    public async Task<Cluster> RestartClusterAsync(Cluster cluster)
    {
        await cluster.Server.DisposeAsync();
        var server = await ControlPlaneServer.StartAsync(cluster.Options);
        _owned.Add(server);
        return cluster with { Server = server };
    }

    /// <summary>Remote secrets both ways, as create-mesh makes them.</summary>
    public async Task LinkAsync(Cluster a, Cluster b)
    {
        await a.ApplyAsync(ResourceDocuments.ToYaml([await RemoteSecrets.CreateAsync(b.Admin, RootPem)]));
        await b.ApplyAsync(ResourceDocuments.ToYaml([await RemoteSecrets.CreateAsync(a.Admin, RootPem)]));
    }

    public async Task<TestApp> StartAppAsync(IPAddress address, int port, string version, string instance, bool http2Only = false)
    {
        var app = await TestApp.StartAsync(address, port, version, instance, http2Only);
        _owned.Add(app);
        return app;
    }

    public async Task<ProxyServer> StartSidecarAsync(Cluster cluster, string workload, string ns, string serviceAccount, IPAddress address, TimeSpan? drainTime = null, Causeway.Proxy.Http1.Http1Limits? http1 = null, Causeway.Proxy.Http2.Http2Limits? http2 = null) =>
        await StartProxyAsync(new ProxyOptions
        {
            DrainTime = drainTime ?? ProxyOptions.DefaultDrainTime,
            Http1 = http1 ?? new Causeway.Proxy.Http1.Http1Limits(),
            Http2 = http2 ?? new Causeway.Proxy.Http2.Http2Limits(),
            ControlPlane = cluster.Server.DiscoveryAddress,
            RootCaPem = RootPem,
            Token = await cluster.TokenAsync(ns, serviceAccount),
            WorkloadName = workload,
            Namespace = ns,
            ServiceAccount = serviceAccount,
            Network = cluster.Network,
            Cluster = cluster.Name,
            Address = address,
        });

    /// <summary>An east-west gateway on its own listener (event loops), or on Kestrel's when <paramref name="eventLoop"/> is false.</summary>
    public async Task<ProxyServer> StartGatewayAsync(Cluster cluster, IPAddress address, TimeSpan? clientHelloTimeout = null, bool zeroCopySplice = true, bool eventLoop = true) =>
        await StartProxyAsync(new ProxyOptions
        {
            ControlPlane = cluster.Server.DiscoveryAddress,
            RootCaPem = RootPem,
            Token = await cluster.TokenAsync("istio-system", "istio-eastwestgateway"),
            WorkloadName = "istio-eastwestgateway",
            Namespace = "istio-system",
            ServiceAccount = "istio-eastwestgateway",
            Network = cluster.Network,
            Cluster = cluster.Name,
            Role = ProxyRole.Gateway,
            Labels = new Dictionary<string, string> { ["istio"] = "eastwestgateway" },
            Address = address,
            ClientHelloTimeout = clientHelloTimeout ?? TimeSpan.FromSeconds(10),
            ZeroCopySplice = zeroCopySplice,
            EventLoop = eventLoop && Causeway.Proxy.Transport.LoopTransportFactory.IsSupported,
        });

    /// <summary>One cluster: helloworld v1 (its app and sidecar) and Sleep's sidecar, which already sees helloworld.</summary>
    public sealed record OneService(Cluster C1, TestApp App, IPAddress Hello, ProxyServer HelloSidecar, IPAddress Sleep, ProxyServer SleepSidecar);

    /// <summary>The seed's same-cluster path; <paramref name="extraYaml"/> (e.g. a policy) is applied with the service.</summary>
    public async Task<OneService> StartOneServiceAsync(string extraYaml = "", string instance = "v1", string protocol = "HTTP")
    {
        var c1 = await StartClusterAsync("cluster1", "network1");
        var (sleep, hello) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Manifests.Service("helloworld", 5000, protocol) + "\n---\n" + Manifests.Workload("helloworld-v1", "helloworld", hello.ToString(), "v1") + (extraYaml.Length > 0 ? "\n---\n" + extraYaml : ""));
        var app = await StartAppAsync(hello, 5000, "v1", instance, http2Only: protocol == "HTTP2");
        var helloSidecar = await StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", hello);
        var sleepSidecar = await StartSidecarAsync(c1, "sleep", "sample", "sleep", sleep);
        await WaitUntilAsync(() => Endpoints(sleepSidecar) == 1, "sleep sees helloworld");
        return new OneService(c1, app, hello, helloSidecar, sleep, sleepSidecar);
    }

    /// <summary>Two linked clusters on two networks; helloworld only in cluster 2 (v2, its app and sidecar), reached from cluster 1 through cluster 2's gateway.</summary>
    public sealed record CrossNetwork(Cluster C1, Cluster C2, TestApp V2, IPAddress V2Address, IPAddress Sleep, IPAddress Gateway);

    /// <summary>
    /// The seed's cross-network path with helloworld in cluster 2 only. The gateway at <see cref="CrossNetwork.Gateway"/>
    /// is registered but not started, nor is Sleep's sidecar: a test starts them as it needs (in this process or apart).
    /// </summary>
    public async Task<CrossNetwork> StartCrossNetworkAsync()
    {
        var c1 = await StartClusterAsync("cluster1", "network1");
        var c2 = await StartClusterAsync("cluster2", "network2");
        await LinkAsync(c1, c2);
        var (sleep, v2Address, gateway) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(15443, 15000, 15021));
        await c1.ApplyAsync(Manifests.Service("helloworld", 5000));
        await c2.ApplyAsync(Manifests.Service("helloworld", 5000) + "\n---\n" + Manifests.Workload("helloworld-v2", "helloworld", v2Address.ToString(), "v2") + "\n---\n" + Manifests.EastWestGateway(gateway.ToString(), "network2") + "\n---\n" + Manifests.ExposeServices);
        var v2 = await StartAppAsync(v2Address, 5000, "v2", "v2");
        await StartSidecarAsync(c2, "helloworld-v2", "sample", "helloworld", v2Address);
        return new CrossNetwork(c1, c2, v2, v2Address, sleep, gateway);
    }

    /// <summary>
    /// An east-west gateway as its own <c>causeway proxy --role gateway</c> process, for tests that need its file
    /// descriptors, memory and CPU apart from the test's; ready (15021) when this returns.
    /// </summary>
    public async Task<CausewayProcess> StartGatewayProcessAsync(Cluster cluster, IPAddress address, params string[] options)
    {
        var caFile = Path.Combine(_dir.Path, "root-cert.pem");
        await File.WriteAllTextAsync(caFile, RootPem);
        var tokenFile = Path.Combine(_dir.Path, cluster.Name + "-gateway-token");
        await File.WriteAllTextAsync(tokenFile, await cluster.TokenAsync("istio-system", "istio-eastwestgateway"));
        var gateway = CausewayProcess.Start([
            "proxy", "--role", "gateway", "--control-plane", cluster.Server.DiscoveryAddress.ToString(), "--ca-file", caFile, "--token-file", tokenFile,
            "--workload", "istio-eastwestgateway", "-n", "istio-system", "--service-account", "istio-eastwestgateway",
            "--network", cluster.Network, "--cluster", cluster.Name, "--address", address.ToString(), "--label", "istio=eastwestgateway", .. options]);
        _owned.Add(gateway);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var ready = await http.GetAsync($"http://{address}:{ProxyOptions.DefaultHealthPort}/healthz/ready");
                if (ready.IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            if (gateway.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{gateway.Description} is not ready:\n{gateway.Output}");
            }

            await Task.Delay(100);
        }

        return gateway;
    }

    /// <summary>An HTTP client whose proxy is the sidecar's outbound port, as <c>http_proxy=...</c> makes curl's.</summary>
    public static HttpClient ClientVia(IPAddress sidecar) => new(new SocketsHttpHandler
    {
        Proxy = new WebProxy($"http://{sidecar}:15001"),
        UseProxy = true,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
    })
    { Timeout = TimeSpan.FromSeconds(20) };

    public static async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting until " + what);
            }

            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Stops <paramref name="sidecar"/> (what SIGTERM does) while <paramref name="send"/> keeps sending one request after
    /// another, and for 500 ms after: how long the stop took, and every status the steady traffic got.
    /// </summary>
    public static async Task<(TimeSpan Stopped, IReadOnlyCollection<HttpStatusCode> Statuses)> StopUnderTrafficAsync(ProxyServer sidecar, Func<Task<HttpStatusCode>> send)
    {
        using var steady = new CancellationTokenSource();
        var statuses = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        var traffic = Task.Run(async () =>
        {
            while (!steady.IsCancellationRequested)
            {
                statuses.Add(await send());
                await Task.Delay(10);
            }
        });
        var stopped = System.Diagnostics.Stopwatch.StartNew();
        await sidecar.DisposeAsync();
        var took = stopped.Elapsed;
        await Task.Delay(500);
        await steady.CancelAsync();
        await traffic;
        return (took, statuses);
    }

    /// <summary>
    /// What a drain of endpoint A under traffic must show (<see cref="StopUnderTrafficAsync"/>): every slow request in flight
    /// answered 200, at least 3 of them by A itself; the stop waited for them (about 1.5 s) within the 5 s drain time; and
    /// at least 20 requests made during the drain, all answered 200.
    /// </summary>
    public static async Task AssertDrainedUnderTrafficAsync(HttpResponseMessage[] answers, TimeSpan drained, IReadOnlyCollection<HttpStatusCode> statuses)
    {
        Assert.All(answers, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var fromA = 0;
        foreach (var answer in answers)
        {
            fromA += (await answer.Content.ReadAsStringAsync()).Contains("from a", StringComparison.Ordinal) ? 1 : 0;
        }

        Assert.True(fromA >= 3, $"{fromA} slow requests were answered by A");
        Assert.InRange(drained, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
        Assert.True(statuses.Count >= 20, $"only {statuses.Count} requests during the drain");
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
    }

    public static int Endpoints(ProxyServer proxy, string host = Host, uint port = 5000) =>
        proxy.Config.Current?.Find(host, port)?.Picker.Endpoints.Length ?? 0;

    /// <summary>Stops one app, proxy or process before the lab ends (churn, shutdown tests) and forgets it.</summary>
    public async Task StopAsync(IAsyncDisposable owned)
    {
        _owned.Remove(owned);
        await owned.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync();
            }
            catch (Exception)
            {
            }
        }

        _root.Dispose();
        _dir.Dispose();
    }

    private async Task<ProxyServer> StartProxyAsync(ProxyOptions options)
    {
        var proxy = await ProxyServer.StartAsync(options);
        _owned.Add(proxy);
        await proxy.WaitForConfigAsync(TimeSpan.FromSeconds(20));
        return proxy;
    }

    private sealed class Disposer(Action dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            dispose();
            return ValueTask.CompletedTask;
        }
    }
}
