using System.Net;
using System.Security.Cryptography;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Http2;

/// <summary>
/// The sidecars' own HTTP/2 path, end to end: an application's h2c to its sidecar, mTLS HTTP/2 between sidecars, h2c
/// to an HTTP/2 application (port protocol HTTP2) or HTTP/1.1 to an HTTP/1.1 one (port protocol HTTP), with Kestrel
/// serving both applications.
/// </summary>
public class Http2ForwarderTests
{
    private const string Authority = "fortune.sample:6000";

    private sealed record Fortune(DataPlaneLab Lab, DataPlaneLab.Cluster Cluster, IPAddress SleepIp, IPAddress AppIp, TestApp? App, ProxyServer Sleep, ProxyServer Server) : IAsyncDisposable
    {
        public HttpClient Client() => new(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { Timeout = TimeSpan.FromSeconds(30) };

        public HttpRequestMessage Request(HttpMethod method, string path, HttpContent? content = null)
        {
            var request = new HttpRequestMessage(method, $"http://{SleepIp}:15001{path}")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = content,
            };
            request.Headers.Host = Authority;
            return request;
        }

        /// <summary>The task's result, or a failure showing both sidecars' HTTP/2 state if it has not ended in 20 s.</summary>
        public async Task<T> WithinAsync<T>(Task<T> task)
        {
            if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(20))) != task)
            {
                Assert.Fail("stalled:\nsleep:\n" + Sleep.Http2!.Describe() + "\nfortune:\n" + Server.Http2!.Describe());
            }

            return await task;
        }

        public long Direct(ProxyServer proxy, string listener) => proxy.Metrics.ConnectionCount(listener, "http2_direct");

        public ValueTask DisposeAsync() => Lab.DisposeAsync();
    }

    private static async Task<Fortune> StartAsync(int endpoints = 1, Causeway.Proxy.Http2.Http2Limits? sleepLimits = null, bool startApp = true, string protocol = "HTTP2", Causeway.Proxy.Http2.Http2Limits? serverLimits = null)
    {
        var lab = new DataPlaneLab();
        try
        {
            var cluster = await lab.StartClusterAsync("cluster1", "network1");
            var (sleepIp, appIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(6000, 15006));
            var manifests = Service("fortune", 6000, protocol) + "\n---\n" + Workload("fortune-v1", "fortune", appIp.ToString(), "v1", 6000, "fortune");
            for (var i = 1; i < endpoints; i++)
            {
                // Endpoints with no sidecar running: nothing listens on their inbound port, so a connection to one is refused.
                manifests += "\n---\n" + Workload($"fortune-dead{i}", "fortune", LoopbackAddresses.Next(6000, 15006).ToString(), "v1", 6000, "fortune");
            }

            await cluster.ApplyAsync(manifests);
            var app = startApp ? await lab.StartAppAsync(appIp, 6000, "v1", "fortune", http2Only: protocol == "HTTP2") : null;
            var server = await lab.StartSidecarAsync(cluster, "fortune-v1", "sample", "fortune", appIp, http2: serverLimits);
            var sleep = await lab.StartSidecarAsync(cluster, "sleep", "sample", "sleep", sleepIp, http2: sleepLimits);
            await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep, "fortune.sample.svc.cluster.local", 6000) == endpoints, "sleep sees fortune");
            return new Fortune(lab, cluster, sleepIp, appIp, app, sleep, server);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    [Theory]
    [InlineData("HTTP2")]
    [InlineData("HTTP")]
    public async Task BodiesLargerThanEveryWindow_CrossThePairWhole_BothWays(string protocol)
    {
        await using var fortune = await StartAsync(protocol: protocol);
        using var client = fortune.Client();

        // 3 MiB: past the 768 KiB stream window and the 1 MiB connection window on every hop, so each hop must pass credit back.
        var body = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var (status, version, echo) = await fortune.WithinAsync(Task.Run(async () =>
        {
            using var response = await client.SendAsync(fortune.Request(HttpMethod.Post, "/echo", new ByteArrayContent(body)));
            return (response.StatusCode, response.Version, await response.Content.ReadAsByteArrayAsync());
        }));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(HttpVersion.Version20, version);
        Assert.Equal(body, echo);

        // Twenty at once on the same connections: the windows are shared, and each stream gets its own bytes back.
        var bodies = Enumerable.Range(0, 20).Select(_ => RandomNumberGenerator.GetBytes(256 * 1024)).ToArray();
        var echoes = await fortune.WithinAsync(Task.WhenAll(bodies.Select(async b =>
        {
            using var r = await client.SendAsync(fortune.Request(HttpMethod.Post, "/echo", new ByteArrayContent(b)));
            return await r.Content.ReadAsByteArrayAsync();
        })));
        for (var i = 0; i < bodies.Length; i++)
        {
            Assert.Equal(bodies[i], echoes[i]);
        }

        Assert.True(fortune.Direct(fortune.Sleep, "outbound") >= 1, "the client's sidecar served the connection itself");
        Assert.True(fortune.Direct(fortune.Server, "inbound") >= 1, "the server's sidecar served the mesh connection itself");
    }

    [Theory]
    [InlineData("HTTP2")]
    [InlineData("HTTP")]
    public async Task MoreStreamsThanAConnectionAllows_AllAnswered_OverMoreThanOneMeshConnection(string protocol)
    {
        await using var fortune = await StartAsync(protocol: protocol);
        using var first = fortune.Client();
        using var second = fortune.Client();

        // 240 requests held 300 ms by the app: the server sidecar allows 100 streams per connection, so the client
        // sidecar must open more than one mesh connection, or queue, rather than fail any.
        var requests = Enumerable.Range(0, 240).Select(async i =>
        {
            using var r = await (i % 2 == 0 ? first : second).SendAsync(fortune.Request(HttpMethod.Get, "/slow?ms=300"));
            return r.StatusCode;
        });
        var statuses = await Task.WhenAll(requests);
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.True(fortune.App!.MaxInFlight > 100, $"the app held at most {fortune.App!.MaxInFlight} at once");
        Assert.True(fortune.Sleep.Http2!.Pools.Connections >= 2, $"{fortune.Sleep.Http2!.Pools.Connections} mesh connection(s)");
    }

    [Theory]
    [InlineData("HTTP2")]
    [InlineData("HTTP")]
    public async Task TheProxysOwnAnswers_AreHttp2Responses(string protocol)
    {
        await using var fortune = await StartAsync(protocol: protocol);
        using var client = fortune.Client();
        using var unknown = fortune.Request(HttpMethod.Get, "/");
        unknown.Headers.Host = "nowhere.sample:6000";
        using var notFound = await client.SendAsync(unknown);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal("causeway: 'nowhere.sample:6000' is not a mesh service this sidecar knows\n", await notFound.Content.ReadAsStringAsync());

        // The app resets its stream (or, over HTTP/1.1, its connection) before answering: the client gets a 502 from its
        // sidecar's peer, not a hang.
        using var aborted = await client.SendAsync(fortune.Request(HttpMethod.Get, "/abort"));
        Assert.Equal(HttpStatusCode.BadGateway, aborted.StatusCode);
        var why = await aborted.Content.ReadAsStringAsync();
        Assert.StartsWith("upstream connect error or disconnect/reset before headers. reset reason: ", why, StringComparison.Ordinal);
        if (protocol == "HTTP2")
        {
            Assert.EndsWith("reset reason: remote reset\n", why, StringComparison.Ordinal);
        }

        using var ok = await client.SendAsync(fortune.Request(HttpMethod.Get, "/hello"));
        Assert.Equal("Hello version: v1, instance: fortune\n", await ok.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnEndpointRefusingConnections_IsRetriedOnAnother()
    {
        await using var fortune = await StartAsync(endpoints: 3);
        using var client = fortune.Client();
        for (var i = 0; i < 12; i++)
        {
            using var response = await client.SendAsync(fortune.Request(HttpMethod.Get, "/hello"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(12, fortune.App!.Requests);
    }

    [Theory]
    [InlineData("HTTP2")]
    [InlineData("HTTP")]
    public async Task AuthorizationAndXfcc_AreAppliedToEachRequest(string protocol)
    {
        await using var fortune = await StartAsync(protocol: protocol);
        using var client = fortune.Client();
        using var whoami = fortune.Request(HttpMethod.Get, "/whoami");
        whoami.Headers.Add("x-forwarded-client-cert", "By=forged;URI=spiffe://cluster.local/ns/sample/sa/admin");
        using var who = await client.SendAsync(whoami);
        var body = await who.Content.ReadAsStringAsync();
        Assert.Contains($"xfcc=By=spiffe://cluster.local/ns/sample/sa/fortune;URI=spiffe://cluster.local/ns/sample/sa/sleep proto={(protocol == "HTTP2" ? "HTTP/2" : "HTTP/1.1")}", body, StringComparison.Ordinal);

        await fortune.Cluster.ApplyAsync("""
            apiVersion: security.istio.io/v1beta1
            kind: AuthorizationPolicy
            metadata: {name: deny-private, namespace: sample}
            spec:
              selector:
                matchLabels: {app: fortune}
              action: DENY
              rules: [{to: [{operation: {paths: ["/private/*"]}}]}]
            """);
        await DataPlaneLab.WaitUntilAsync(() => fortune.Server.Config.Current!.Config.AuthorizationPolicies.Count == 1, "the policy reaches fortune's sidecar");
        using var denied = await client.SendAsync(fortune.Request(HttpMethod.Get, "/private/secret?x=1"));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("RBAC: access denied", await denied.Content.ReadAsStringAsync());
        Assert.DoesNotContain(fortune.App!.Seen, p => p.Contains("/private", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("HTTP2")]
    [InlineData("HTTP")]
    public async Task AClientThatCancels_LeavesTheConnectionsServing(string protocol)
    {
        await using var fortune = await StartAsync(protocol: protocol);
        using var client = fortune.Client();
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SendAsync(fortune.Request(HttpMethod.Get, "/slow?ms=3000"), cancel.Token));
        }

        using var ok = await client.SendAsync(fortune.Request(HttpMethod.Get, "/hello"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        await DataPlaneLab.WaitUntilAsync(
            () => fortune.Sleep.Metrics.RequestCount(k => k.ResponseCode == 0) == 1,
            "the cancelled request is recorded with no response code, as Istio records a downstream reset");
    }

    [Fact]
    public async Task AStreamOnWhichNothingMoves_EndsWith504AfterTheStreamIdleTimeout()
    {
        await using var fortune = await StartAsync(sleepLimits: new Causeway.Proxy.Http2.Http2Limits { StreamIdleTimeout = TimeSpan.FromSeconds(1) });
        using var client = fortune.Client();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var response = await client.SendAsync(fortune.Request(HttpMethod.Get, "/slow?ms=6000"));
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("causeway: stream timeout\n", await response.Content.ReadAsStringAsync());
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"answered after {elapsed.TotalSeconds:0.0} s");

        // The upstream's stream was cancelled, not its connection: the next request is served.
        using var ok = await client.SendAsync(fortune.Request(HttpMethod.Get, "/hello"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task StreamsAnApplicationsGoAwayLeftOut_AreSentAgainOnANewConnection()
    {
        await using var fortune = await StartAsync(startApp: false);
        using var app = new OneAnswerPerConnection(fortune.AppIp, 6000);
        using var client = fortune.Client();

        // Three at once: each connection to the application answers its first stream and refuses the rest with GOAWAY
        // (as nginx does at keepalive_requests), so the streams it left out must go again, on a new connection.
        var statuses = await Task.WhenAll(Enumerable.Range(0, 3).Select(async _ =>
        {
            using var r = await client.SendAsync(fortune.Request(HttpMethod.Get, "/"));
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        }));
        Assert.All(statuses, s => Assert.Equal((HttpStatusCode.OK, "ok"), s));
        Assert.True(app.Connections >= 2, $"{app.Connections} connection(s) to the application");
    }

    [Fact]
    public async Task RequestsWithBodiesAnApplicationsGoAwayLeftOut_AreSentAgainWhole()
    {
        await using var fortune = await StartAsync(startApp: false);
        using var app = new OneAnswerPerConnection(fortune.AppIp, 6000);
        using var client = fortune.Client();

        // gRPC calls carry a body: a stream left out after its body went to the application must go again with all of
        // it (the application echoes what it got), not fail with 502 as when only bodiless requests were sent again.
        // Three, as above: each connection answers one, so the third goes on its last try.
        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(async i =>
        {
            var body = new byte[1024 * (i + 1)];
            RandomNumberGenerator.Fill(body);
            using var r = await client.SendAsync(fortune.Request(HttpMethod.Post, "/echo", new ByteArrayContent(body)));
            return (r.StatusCode, Echoed: (await r.Content.ReadAsByteArrayAsync()).AsSpan().SequenceEqual([.. "ok"u8, .. body]));
        }));
        Assert.All(answers, a => Assert.Equal((HttpStatusCode.OK, true), a));
        Assert.True(app.Connections >= 2, $"{app.Connections} connection(s) to the application");
        Assert.True(app.LeftOut >= 1, "no stream was left out by a GOAWAY");
    }

    [Fact]
    public async Task ARequestLargerThanTheRetryBuffer_LeftOutByAGoAway_Is502_AndTheOthersAreSentAgain()
    {
        await using var fortune = await StartAsync(startApp: false, serverLimits: new() { RetryBufferBytes = 4096 });
        using var app = new OneAnswerPerConnection(fortune.AppIp, 6000, answerAfter: TimeSpan.FromMilliseconds(300));
        using var client = fortune.Client();

        // The application waits before its one answer, so the requests share its first connection: the two it leaves
        // out are the large one (past the retry buffer: no copy to send again) and a small one (sent again).
        var sizes = new[] { 1024, 1024, 8192 };
        var answers = await Task.WhenAll(sizes.Select(async (size, i) =>
        {
            await Task.Delay(50 * i);
            var body = new byte[size];
            RandomNumberGenerator.Fill(body);
            using var r = await client.SendAsync(fortune.Request(HttpMethod.Post, "/echo", new ByteArrayContent(body)));
            var answer = await r.Content.ReadAsByteArrayAsync();
            return (r.StatusCode, Echoed: answer.AsSpan().SequenceEqual([.. "ok"u8, .. body]), Text: System.Text.Encoding.ASCII.GetString(answer));
        }));
        Assert.Equal((HttpStatusCode.OK, true), (answers[0].StatusCode, answers[0].Echoed));
        Assert.Equal((HttpStatusCode.OK, true), (answers[1].StatusCode, answers[1].Echoed));
        Assert.Equal(HttpStatusCode.BadGateway, answers[2].StatusCode);
        Assert.Contains("remote refused stream reset", answers[2].Text);
        Assert.Equal(2, app.LeftOut);
    }

    [Fact]
    public async Task AnHttp11Application_GetsABodyOfUnknownLengthChunked_OneCookieField_AndA504WhenItStalls()
    {
        await using var fortune = await StartAsync(protocol: "HTTP", serverLimits: new Causeway.Proxy.Http2.Http2Limits { StreamIdleTimeout = TimeSpan.FromSeconds(1) });
        using var client = fortune.Client();

        // A body without a length crosses the HTTP/2 hops as DATA and reaches the application chunked.
        var body = RandomNumberGenerator.GetBytes(300 * 1024);
        using var content = new UnknownLengthContent(body);
        using var upload = fortune.Request(HttpMethod.Post, "/echo", content);
        using (var echoed = await fortune.WithinAsync(client.SendAsync(upload)))
        {
            Assert.Equal(HttpStatusCode.OK, echoed.StatusCode);
            Assert.Equal(body, await echoed.Content.ReadAsByteArrayAsync());
        }

        // Cookies that HTTP/2 carries as several fields arrive as one.
        using var cookies = fortune.Request(HttpMethod.Get, "/cookies");
        cookies.Headers.TryAddWithoutValidation("cookie", ["a=1", "b=2"]);
        using (var seen = await client.SendAsync(cookies))
        {
            Assert.Equal("a=1; b=2", await seen.Content.ReadAsStringAsync());
        }

        // Nothing moves on the stream for the server sidecar's stream idle timeout: the client gets a 504.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var stalled = await client.SendAsync(fortune.Request(HttpMethod.Get, "/slow?ms=6000"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, stalled.StatusCode);
        Assert.Equal("causeway: stream timeout\n", await stalled.Content.ReadAsStringAsync());
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(5));
        using var ok = await client.SendAsync(fortune.Request(HttpMethod.Get, "/hello"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.True(fortune.Direct(fortune.Server, "inbound") >= 1, "the server's sidecar served the mesh connection itself");
    }

    [Fact]
    public async Task AnHttp11ApplicationsChunkedBody_ReachesAnHttp2ClientUnframed_WithItsTrailers()
    {
        await using var fortune = await StartAsync(protocol: "HTTP", startApp: false);
        // Kestrel sends no trailers over HTTP/1.1, so the application is raw: two chunks, then trailers, one of them hop-by-hop.
        using var listener = new System.Net.Sockets.TcpListener(fortune.AppIp, 6000);
        listener.Start();
        using var stop = new CancellationTokenSource();
        var serving = AnswerChunkedWithTrailersAsync(listener, stop.Token);
        using var client = fortune.Client();

        for (var i = 0; i < 2; i++)
        {
            using var response = await fortune.WithinAsync(client.SendAsync(fortune.Request(HttpMethod.Get, "/trailers")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("hello, world\n", await response.Content.ReadAsStringAsync());
            Assert.Equal(["abc"], response.TrailingHeaders.GetValues("x-checksum"));
            Assert.False(response.TrailingHeaders.Contains("connection"));
        }

        await stop.CancelAsync();
        await serving;
    }

    /// <summary>Answers every request on every connection with a chunked body and a trailer section, keeping the connection.</summary>
    private static async Task AnswerChunkedWithTrailersAsync(System.Net.Sockets.TcpListener listener, CancellationToken stop)
    {
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync(stop);
                held.Add(socket);
                _ = Task.Run(async () =>
                {
                    var seen = "";
                    var buffer = new byte[4096];
                    int n;
                    while ((n = await socket.ReceiveAsync(buffer, stop)) > 0)
                    {
                        seen += System.Text.Encoding.ASCII.GetString(buffer, 0, n);
                        for (var end = seen.IndexOf("\r\n\r\n", StringComparison.Ordinal); end >= 0; end = seen.IndexOf("\r\n\r\n", StringComparison.Ordinal))
                        {
                            seen = seen[(end + 4)..];
                            await socket.SendAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n7\r\nhello, \r\n6\r\nworld\n\r\n0\r\nX-Checksum: abc\r\nConnection: keep-alive\r\n\r\n"u8.ToArray(), stop);
                        }
                    }
                }, stop);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task AStoppingDestinationSidecar_FinishesItsStreamsInFlight_AndNewOnesGoToTheOtherEndpoint()
    {
        await using var lab = new DataPlaneLab();
        var cluster = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, aIp, bIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(6000, 15006), LoopbackAddresses.Next(6000, 15006));
        await cluster.ApplyAsync(Service("fortune", 6000, "HTTP2") + "\n---\n" + Workload("fortune-a", "fortune", aIp.ToString(), "v1", 6000, "fortune") +
            "\n---\n" + Workload("fortune-b", "fortune", bIp.ToString(), "v1", 6000, "fortune"));
        var appA = await lab.StartAppAsync(aIp, 6000, "v1", "a", http2Only: true);
        await lab.StartAppAsync(bIp, 6000, "v1", "b", http2Only: true);
        var sidecarA = await lab.StartSidecarAsync(cluster, "fortune-a", "sample", "fortune", aIp);
        await lab.StartSidecarAsync(cluster, "fortune-b", "sample", "fortune", bIp);
        var sleep = await lab.StartSidecarAsync(cluster, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep, "fortune.sample.svc.cluster.local", 6000) == 2, "sleep sees both endpoints");
        var fortune = new Fortune(lab, cluster, sleepIp, aIp, appA, sleep, sidecarA);
        using var client = fortune.Client();

        // Streams in flight at A when its sidecar is told to stop (SIGTERM), and steady traffic meanwhile: A's sidecar
        // says GOAWAY, finishes what it took, and new streams go to B.
        var slow = Enumerable.Range(0, 10).Select(_ => client.SendAsync(fortune.Request(HttpMethod.Get, "/slow?ms=1500"))).ToList();
        await DataPlaneLab.WaitUntilAsync(() => appA.Seen.Count(p => p.StartsWith("GET /slow", StringComparison.Ordinal)) >= 3, "slow requests reach A");
        var (drained, statuses) = await DataPlaneLab.StopUnderTrafficAsync(sidecarA, async () =>
        {
            using var r = await client.SendAsync(fortune.Request(HttpMethod.Get, "/hello"));
            return r.StatusCode;
        });

        var answers = await fortune.WithinAsync(Task.WhenAll(slow));
        await DataPlaneLab.AssertDrainedUnderTrafficAsync(answers, drained, statuses);
    }

    /// <summary>A request body sent in pieces whose length the client does not know beforehand.</summary>
    private sealed class UnknownLengthContent(byte[] body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var sent = 0; sent < body.Length; sent += 16 * 1024)
            {
                await stream.WriteAsync(body.AsMemory(sent, Math.Min(16 * 1024, body.Length - sent)));
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
