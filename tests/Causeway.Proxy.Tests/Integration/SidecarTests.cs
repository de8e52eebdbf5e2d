using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Gateway;
using Causeway.Proxy.Inbound;
using Causeway.Testing;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>Sleep's sidecar calling HelloWorld's sidecar over mTLS, in one cluster and across networks through a gateway.</summary>
public class SidecarTests
{
    private const string HelloUrl = "http://helloworld.sample:5000/hello";

    [Fact]
    public async Task AnHttp11RequestCrossesAsHttp11_UntilADestinationRuleUpgradesItToHttp2()
    {
        await using var lab = new DataPlaneLab();
        var (c1, _, _, server, sleepIp, sleep) = await lab.StartOneServiceAsync();
        using var client = DataPlaneLab.ClientVia(sleepIp);

        // Istio's default h2UpgradePolicy (DO_NOT_UPGRADE): the mesh hop speaks what the application spoke.
        Assert.StartsWith("Hello version: v1", await client.GetStringAsync(HelloUrl), StringComparison.Ordinal);
        Assert.Equal(1, server.Metrics.ConnectionCount(InboundConnection.Listener, "http1"));
        Assert.Equal(0, server.Metrics.ConnectionCount(InboundConnection.Listener, "http2_direct"));

        await c1.ApplyAsync(H2Upgrade("helloworld"));
        await DataPlaneLab.WaitUntilAsync(() => sleep.Config.Current?.Find(DataPlaneLab.Host, 5000)?.H2Upgrade == true, "sleep's sidecar has the upgrade policy");
        Assert.StartsWith("Hello version: v1", await client.GetStringAsync(HelloUrl), StringComparison.Ordinal);
        Assert.Equal(1, server.Metrics.ConnectionCount(InboundConnection.Listener, "http2_direct"));
        Assert.Equal(1, server.Metrics.ConnectionCount(InboundConnection.Listener, "http1"));
    }

    [Fact]
    public async Task ARequestCrossesTwoSidecarsOverMtls_AndTheAppSeesTheCallersSpiffeId()
    {
        await using var lab = new DataPlaneLab();
        var (c1, app, helloIp, server, sleepIp, sleep) = await lab.StartOneServiceAsync(instance: "helloworld-v1-abc");

        using var client = DataPlaneLab.ClientVia(sleepIp);
        Assert.Equal("Hello version: v1, instance: helloworld-v1-abc\n", await client.GetStringAsync(HelloUrl));
        var whoami = await client.GetStringAsync("http://helloworld.sample.svc.cluster.local:5000/whoami");
        Assert.Contains("URI=spiffe://cluster.local/ns/sample/sa/sleep", whoami, StringComparison.Ordinal);
        Assert.Contains("host=helloworld.sample.svc.cluster.local:5000", whoami, StringComparison.Ordinal);
        Assert.Equal(1, server.Metrics.ConnectionCount(InboundConnection.Listener, "http1"));
        Assert.Contains("istio_requests_total{reporter=\"source\",source_workload=\"sleep\"", sleep.Metrics.ToPrometheus(), StringComparison.Ordinal);

        // Names a client in the namespace may use all reach the service; names outside the mesh do not.
        foreach (var name in new[] { "helloworld", "helloworld.sample", "helloworld.sample.svc" })
        {
            Assert.StartsWith("Hello version: v1", await client.GetStringAsync($"http://{name}:5000/hello"), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("http://nothere.sample:5000/hello")).StatusCode);
        Assert.Equal(5, app.Requests);
    }

    [Fact]
    public async Task AnEndpointWithNoSidecarGetsPlainHttp11_AsIstiosAutoMtlsDoes()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, legacyIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("legacy", "helloworld", legacyIp.ToString(), "v1", tlsMode: "disabled"));
        var app = await lab.StartAppAsync(legacyIp, 5000, "v1", "legacy");
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 1, "sleep sees the legacy endpoint");

        using var client = DataPlaneLab.ClientVia(sleepIp);
        Assert.Equal("Hello version: v1, instance: legacy\n", await client.GetStringAsync(HelloUrl));
        // No sidecar in front of it: no XFCC, HTTP/1.1 straight from the caller's sidecar, the authority kept.
        Assert.Equal("xfcc= proto=HTTP/1.1 host=helloworld.sample:5000\n", await client.GetStringAsync("http://helloworld.sample:5000/whoami"));

        // CONNECT to the same service carries plain TCP to the application's port.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sleepIp, 15001);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("CONNECT helloworld.sample:5000 HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var all = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK", all, StringComparison.Ordinal);
        Assert.Contains("Hello version: v1, instance: legacy\n", all, StringComparison.Ordinal);
        Assert.Equal(3, app.Requests);
    }

    [Fact]
    public async Task RequestsAreBalancedPerRequest_OverOneKeepAliveConnection()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var sleepIp = LoopbackAddresses.Next(15001, 15006);
        var ips = new[] { LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(5000, 15006) };
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-a", "helloworld", ips[0].ToString(), "v1") + "\n---\n" + Workload("helloworld-b", "helloworld", ips[1].ToString(), "v1"));
        var apps = new[] { await lab.StartAppAsync(ips[0], 5000, "v1", "a"), await lab.StartAppAsync(ips[1], 5000, "v1", "b") };
        await lab.StartSidecarAsync(c1, "helloworld-a", "sample", "helloworld", ips[0]);
        await lab.StartSidecarAsync(c1, "helloworld-b", "sample", "helloworld", ips[1]);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 2, "sleep sees both endpoints");

        using var client = DataPlaneLab.ClientVia(sleepIp);
        var replies = new List<string>();
        for (var i = 0; i < 100; i++)
        {
            replies.Add(await client.GetStringAsync(HelloUrl));
        }

        var a = replies.Count(r => r.Contains("instance: a", StringComparison.Ordinal));
        var b = replies.Count(r => r.Contains("instance: b", StringComparison.Ordinal));
        Assert.True(a >= 40 && b >= 40, $"a={a} b={b}");
        Assert.Equal(100, apps[0].Requests + apps[1].Requests);
    }

    [Fact]
    public async Task InboundRefusesPlaintextWhenStrict_AndACertificateFromAnotherRoot()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var helloIp = LoopbackAddresses.Next(5000, 15006);
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v1", "helloworld", helloIp.ToString(), "v1"));
        var app = await lab.StartAppAsync(helloIp, 5000, "v1", "v1");
        var server = await lab.StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", helloIp);

        // Plaintext HTTP straight at the inbound port: STRICT (the default) closes it, nothing reaches the app.
        using (var plain = new TcpClient())
        {
            await plain.ConnectAsync(helloIp, 15006);
            var stream = plain.GetStream();
            await stream.WriteAsync("GET /hello HTTP/1.1\r\nHost: helloworld\r\n\r\n"u8.ToArray());
            Assert.Equal(0, await ReadSome(stream));
        }

        Assert.Equal(1, server.Metrics.ConnectionCount(InboundConnection.Listener, "plaintext_refused"));

        // A well-formed mesh certificate for sleep, but from another root.
        using var otherRoot = CertificateAuthority.CreateRoot("Attacker");
        using var otherCa = otherRoot.CreateIntermediate("evil");
        var (key, csr) = WorkloadCsr.Create(new SpiffeId("cluster.local", "sample", "sleep"));
        var chain = otherCa.SignWorkload(csr, new SpiffeId("cluster.local", "sample", "sleep"));
        using var leaf = chain[0].CopyWithPrivateKey(key);
        key.Dispose();
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(helloIp, 15006);
            using var ssl = new SslStream(tcp.GetStream());
            var refused = false;
            try
            {
                await ssl.AuthenticateAsClientAsync(MeshTls.ClientOptions("outbound_.5000_._.helloworld.sample.svc.cluster.local", SslStreamCertificateContext.Create(leaf, [chain[1]], offline: true), SslApplicationProtocol.Http11));
                await ssl.WriteAsync("GET /hello HTTP/1.1\r\nHost: helloworld\r\n\r\n"u8.ToArray());
                refused = await ReadSome(ssl) == 0;
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
            {
                refused = true;
            }

            Assert.True(refused, "a certificate from another root was accepted");
        }

        Assert.Equal(0, app.Requests);
    }

    [Fact]
    public async Task AnAuthorizationPolicyDenyingTheCallersPrincipal_Yields403()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, helloIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v1", "helloworld", helloIp.ToString(), "v1"));
        var app = await lab.StartAppAsync(helloIp, 5000, "v1", "v1");
        var server = await lab.StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", helloIp);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 1, "sleep sees helloworld");
        using var client = DataPlaneLab.ClientVia(sleepIp);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(HelloUrl)).StatusCode);

        await c1.ApplyAsync(DenyToHelloworld("cluster.local/ns/sample/sa/sleep"));
        await DataPlaneLab.WaitUntilAsync(() => server.Config.Current!.Config.AuthorizationPolicies.Count == 1, "the policy reaches helloworld's sidecar");

        var denied = await client.GetAsync(HelloUrl);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("RBAC: access denied", await denied.Content.ReadAsStringAsync());
        Assert.Equal(1, app.Requests);
    }

    [Fact]
    public async Task HttpTwoFromTheApp_H2c_IsCarriedEndToEnd()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, appIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(6000, 15006));
        await c1.ApplyAsync(Service("fortune", 6000, "HTTP2") + "\n---\n" + Workload("fortune-v1", "fortune", appIp.ToString(), "v1", 6000, "fortune"));
        await lab.StartAppAsync(appIp, 6000, "v1", "fortune", http2Only: true);
        await lab.StartSidecarAsync(c1, "fortune-v1", "sample", "fortune", appIp);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep, "fortune.sample.svc.cluster.local", 6000) == 1, "sleep sees fortune");

        using var h2c = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(20) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{sleepIp}:15001/whoami")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Host = "fortune.sample:6000";
        using var response = await h2c.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Contains("proto=HTTP/2", body, StringComparison.Ordinal);
        Assert.Contains("URI=spiffe://cluster.local/ns/sample/sa/sleep", body, StringComparison.Ordinal);
    }

    /// <summary>The gateway on its own listener splicing in the kernel, or copying; and on Kestrel's listener (no event loops), copying.</summary>
    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public async Task AnEndpointOnAnotherNetworkIsReachedOnlyThroughItsGateway_WhichNeverDecrypts(bool eventLoop, bool zeroCopySplice)
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var c2 = await lab.StartClusterAsync("cluster2", "network2");
        await lab.LinkAsync(c1, c2);
        var (sleepIp, v1Ip, v2Ip, gw2Ip) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(15443));
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v1", "helloworld", v1Ip.ToString(), "v1"));
        await c2.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v2", "helloworld", v2Ip.ToString(), "v2") + "\n---\n" + EastWestGateway(gw2Ip.ToString(), "network2") + "\n---\n" + ExposeServices);
        await lab.StartAppAsync(v1Ip, 5000, "v1", "helloworld-v1-abc");
        var v2 = await lab.StartAppAsync(v2Ip, 5000, "v2", "helloworld-v2-xyz");
        await lab.StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", v1Ip);
        await lab.StartSidecarAsync(c2, "helloworld-v2", "sample", "helloworld", v2Ip);
        var gateway = await lab.StartGatewayAsync(c2, gw2Ip, zeroCopySplice: zeroCopySplice, eventLoop: eventLoop);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 2 && DataPlaneLab.Endpoints(gateway) == 1 && gateway.Config.Current!.Exposes(DataPlaneLab.Host, 15443), "sleep sees v1 and the gateway; the gateway sees v2");

        Assert.Null(gateway.Certificates);
        var viaGateway = sleep.Config.Current!.Find(DataPlaneLab.Host, 5000)!.Picker.Endpoints.Single(e => e.ViaGateway);
        Assert.Equal((gw2Ip.ToString(), 15443u), (viaGateway.Address, viaGateway.Port));

        using var client = DataPlaneLab.ClientVia(sleepIp);
        var replies = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            replies.Add(await client.GetStringAsync(HelloUrl));
        }

        Assert.Equal(5, replies.Count(r => r.StartsWith("Hello version: v1, instance: helloworld-v1-abc", StringComparison.Ordinal)));
        Assert.Equal(5, replies.Count(r => r.StartsWith("Hello version: v2, instance: helloworld-v2-xyz", StringComparison.Ordinal)));
        Assert.True(gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded") >= 1);

        // End-to-end mTLS: v2's sidecar saw sleep's own identity, which only the sleep sidecar's key can prove.
        string whoami;
        do
        {
            whoami = await client.GetStringAsync("http://helloworld.sample:5000/whoami");
        }
        while (!whoami.Contains("By=spiffe://cluster.local/ns/sample/sa/helloworld", StringComparison.Ordinal) || v2.Requests < 6);
        Assert.Contains("URI=spiffe://cluster.local/ns/sample/sa/sleep", whoami, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAuthorizationPolicyHoldsForCallersFromAnotherCluster_ThroughThePassthroughGateway()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var c2 = await lab.StartClusterAsync("cluster2", "network2");
        await lab.LinkAsync(c1, c2);
        var (sleepIp, otherIp, v2Ip, gw2Ip) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(15443));
        await c1.ApplyAsync(Service("helloworld", 5000));
        await c2.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v2", "helloworld", v2Ip.ToString(), "v2") + "\n---\n" + EastWestGateway(gw2Ip.ToString(), "network2") + "\n---\n" + ExposeServices + "\n---\n" + DenyToHelloworld("cluster.local/ns/sample/sa/sleep"));
        var v2 = await lab.StartAppAsync(v2Ip, 5000, "v2", "helloworld-v2-xyz");
        var server = await lab.StartSidecarAsync(c2, "helloworld-v2", "sample", "helloworld", v2Ip);
        var gateway = await lab.StartGatewayAsync(c2, gw2Ip);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        var other = await lab.StartSidecarAsync(c1, "other", "sample", "other", otherIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 1 && DataPlaneLab.Endpoints(other) == 1 && DataPlaneLab.Endpoints(gateway) == 1
            && gateway.Config.Current!.Exposes(DataPlaneLab.Host, 15443) && server.Config.Current!.Config.AuthorizationPolicies.Count == 1, "cluster1's callers see v2 through the gateway; v2 has its policy");

        // The gateway passes any mesh certificate through; the destination decides, on the caller's own SPIFFE ID.
        using (var allowed = DataPlaneLab.ClientVia(otherIp))
        {
            Assert.Equal("Hello version: v2, instance: helloworld-v2-xyz\n", await allowed.GetStringAsync(HelloUrl));
        }

        using var denied = DataPlaneLab.ClientVia(sleepIp);
        var response = await denied.GetAsync(HelloUrl);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("RBAC: access denied", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, v2.Requests);
        Assert.True(gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded") >= 2);
    }

    [Fact]
    public async Task TheGatewayRefusesWhatItMustNotForward_AndCountsWhy()
    {
        await using var lab = new DataPlaneLab();
        var c2 = await lab.StartClusterAsync("cluster2", "network2");
        var (v2Ip, gwIp) = (LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(15443));
        await c2.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v2", "helloworld", v2Ip.ToString(), "v2") + "\n---\n" + EastWestGateway(gwIp.ToString(), "network2") + "\n---\n" + ExposeServices);
        var gateway = await lab.StartGatewayAsync(c2, gwIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(gateway) == 1, "the gateway sees v2");

        async Task<int> Send(byte[] bytes)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(gwIp, 15443);
            var stream = tcp.GetStream();
            try
            {
                await stream.WriteAsync(bytes);
                tcp.Client.Shutdown(SocketShutdown.Send);
            }
            catch (IOException)
            {
                return 0;
            }

            return await ReadSome(stream);
        }

        Assert.Equal(0, await Send("GET / HTTP/1.1\r\n\r\n"u8.ToArray()));
        Assert.Equal(0, await Send(Hello("outbound_.5000_._.helloworld.sample.svc.cluster.local", "h2")));
        Assert.Equal(0, await Send(Hello("outbound_.15012_._.istiod.istio-system.svc.cluster.local", "istio-h2")));
        Assert.Equal(0, await Send(Hello("outbound_.5000_._.helloworld.sample.svc.example.com", "istio-h2")));
        Assert.Equal(0, await Send(Hello("helloworld.sample.svc.cluster.local", "istio-h2")));
        Assert.Equal(0, await Send(Hello("outbound_.5000_._.helloworld.sample.svc.cluster.local", "istio-h2")[..40]));

        var expected = new[] { "not_tls", "no_mesh_alpn", "no_endpoint", "not_exposed", "bad_sni", "hello_truncated" };
        var counted = expected.ToDictionary(o => o, o => gateway.Metrics.ConnectionCount(SniRouter.Listener, o));
        Assert.True(counted.Values.All(c => c == 1), gateway.Metrics.ToPrometheus());
        Assert.Equal(0, gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded"));
    }

    private static byte[] Hello(string sni, string alpn) => ClientHellos.Capture(sni, alpn);

    private static async Task<int> ReadSome(Stream stream)
    {
        var buffer = new byte[1024];
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            return await stream.ReadAsync(buffer, timeout.Token);
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
