using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Http1;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using Xunit.Abstractions;

namespace Causeway.Proxy.Tests.Http1;

/// <summary>The sidecars' direct HTTP/1.1 path, end to end: Sleep's sidecar, mTLS, helloworld's sidecar, the application.</summary>
public class Http1ForwarderTests(ITestOutputHelper output)
{
    private const string Base = "http://helloworld.sample:5000";

    [Fact]
    public async Task PlainHttp11TakesTheDirectPathBothSides_OverPooledUpstreamConnections()
    {
        await using var lab = new DataPlaneLab();
        var mesh = await lab.StartOneServiceAsync();
        using var client = DataPlaneLab.ClientVia(mesh.Sleep);
        var connections = new HashSet<string>();
        for (var i = 0; i < 50; i++)
        {
            connections.Add(await client.GetStringAsync(Base + "/connection"));
        }

        // One client connection in, so pooled connections carry the 50 requests: one each way, or a second where the next
        // request overtook a connection's return to its pool (the response is on its way before the return).
        output.WriteLine($"the application saw {connections.Count} connection(s)");
        Assert.InRange(connections.Count, 1, 3);
        Assert.Equal(1, mesh.SleepSidecar.Metrics.ConnectionCount(KestrelConnectionEnds.OutboundListener, "http1_direct"));
        Assert.InRange(mesh.HelloSidecar.Metrics.ConnectionCount(InboundConnection.Listener, "http1_direct"), 1, 3);
        Assert.Equal(0, mesh.SleepSidecar.Metrics.ConnectionCount(KestrelConnectionEnds.OutboundListener, "http1_to_kestrel"));
        // A request is counted once its response has ended, which the client may see before the proxy has counted it.
        await DataPlaneLab.WaitUntilAsync(() => mesh.SleepSidecar.Metrics.RequestCount(k => k.Reporter == "source" && k.ResponseCode == 200 && k.DestinationWorkload == "helloworld-v1") == 50, "Sleep's sidecar counts 50 requests");
        await DataPlaneLab.WaitUntilAsync(() => mesh.HelloSidecar.Metrics.RequestCount(k => k.Reporter == "destination" && k.ResponseCode == 200 && k.SourcePrincipal == "spiffe://cluster.local/ns/sample/sa/sleep") == 50, "helloworld's sidecar counts 50 requests");
        Assert.Contains("URI=spiffe://cluster.local/ns/sample/sa/sleep", await client.GetStringAsync(Base + "/whoami"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChunkedAndLargeBodies_HeadRequests_AndPipelinedRequests_ArriveIntact()
    {
        await using var lab = new DataPlaneLab();
        var mesh = await lab.StartOneServiceAsync();
        using var client = DataPlaneLab.ClientVia(mesh.Sleep);

        Assert.Equal(string.Concat(Enumerable.Range(0, 200).Select(i => $"part {i}\n")), await client.GetStringAsync(Base + "/chunked?n=200"));

        var body = new byte[1024 * 1024 + 17];
        new Random(5).NextBytes(body);
        using (var echoed = await client.PostAsync(Base + "/echo", new ByteArrayContent(body)))
        {
            Assert.Equal(HttpStatusCode.OK, echoed.StatusCode);
            Assert.Equal(body, await echoed.Content.ReadAsByteArrayAsync());
        }

        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, Base + "/hello")))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        }

        // Two requests in one write: answered in order, on one connection, the second closing it.
        var text = await RawAsync(mesh.Sleep, $"GET {Base}/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\nGET {Base}/chunked?n=3 HTTP/1.1\r\nHost: helloworld.sample:5000\r\nConnection: close\r\n\r\n");
        output.WriteLine(text);
        var first = text.IndexOf("Hello version: v1", StringComparison.Ordinal);
        var second = text.IndexOf("part 2", StringComparison.Ordinal);
        Assert.True(first > 0 && second > first, text);
        Assert.Contains("Connection: close", text[first..], StringComparison.Ordinal);
        Assert.Equal(0, mesh.SleepSidecar.Metrics.ConnectionCount(KestrelConnectionEnds.OutboundListener, "http1_to_kestrel"));
    }

    [Fact]
    public async Task WhatTheDirectPathDoesNotTake_IsHandedToKestrelAtARequestBoundary_AndStillForwarded()
    {
        await using var lab = new DataPlaneLab();
        var mesh = await lab.StartOneServiceAsync();

        // A plain request first, then a chunked request body on the same connection: the second goes to Kestrel.
        var text = await RawAsync(mesh.Sleep,
            $"GET {Base}/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n" +
            $"POST {Base}/echo HTTP/1.1\r\nHost: helloworld.sample:5000\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        output.WriteLine(text);
        Assert.Contains("Hello version: v1", text, StringComparison.Ordinal);
        Assert.Contains("hello world", text, StringComparison.Ordinal);
        Assert.Equal(1, mesh.SleepSidecar.Metrics.ConnectionCount(KestrelConnectionEnds.OutboundListener, "http1_to_kestrel"));
        Assert.Equal(["GET /hello", "POST /echo"], mesh.App.Seen);
    }

    [Fact]
    public async Task ASlowHeadIsCutOff_AndAnIdleConnectionClosed_ByTheHeartbeat()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var sleepIp = LoopbackAddresses.Next(15001, 15006);
        var limits = new Http1Limits { RequestHeadersTimeout = TimeSpan.FromSeconds(2), KeepAliveTimeout = TimeSpan.FromSeconds(3) };
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp, http1: limits);

        using var slow = new TcpClient();
        await slow.ConnectAsync(sleepIp, 15001);
        await slow.GetStream().WriteAsync("GET / HTTP/1.1\r\nHo"u8.ToArray());
        // A connection that made one request (no such service: 404) and then says nothing more.
        using var idle = new TcpClient();
        await idle.ConnectAsync(sleepIp, 15001);
        await idle.GetStream().WriteAsync("GET http://nowhere.sample/ HTTP/1.1\r\nHost: nowhere.sample\r\n\r\n"u8.ToArray());

        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, await ReadToEndAsync(slow, TimeSpan.FromSeconds(15)));
        var slowClosed = started.Elapsed;
        Assert.True(await ReadToEndAsync(idle, TimeSpan.FromSeconds(15)) > 0, "the 404, then the close");
        output.WriteLine($"slow head closed after {slowClosed.TotalSeconds:F1} s, idle connection after {started.Elapsed.TotalSeconds:F1} s");
        Assert.InRange(slowClosed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(6));
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(8));
        Assert.Equal(2, sleep.Metrics.ConnectionCount(KestrelConnectionEnds.OutboundListener, "http1_timeout"));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task AnAnswerBeforeTheWholeBody_IsRelayed_AndTheRestOfTheBodyDrained(bool applicationCloses, bool upgraded)
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, helloIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006));
        // Upgraded: the mesh hop is HTTP/2, so each sidecar's side is a stream (UpgradedRequestStream, Http1ApplicationStream).
        await c1.ApplyAsync(Manifests.Service("helloworld", 5000) + "\n---\n" + Manifests.Workload("helloworld-v1", "helloworld", helloIp.ToString(), "v1") +
            (upgraded ? "\n---\n" + Manifests.H2Upgrade("helloworld") : ""));
        // An application that refuses an upload as soon as it has the head: it then closes (unread bytes: a reset), or
        // keeps the connection without reading another byte.
        using var application = new TcpListener(helloIp, 5000);
        application.Start();
        using var stop = new CancellationTokenSource();
        var refusing = RefuseUploadsAsync(application, applicationCloses, stop.Token);
        var hello = await lab.StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", helloIp);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 1 && sleep.Config.Current?.Find(DataPlaneLab.Host, 5000)?.H2Upgrade == upgraded, "sleep sees helloworld");

        using var client = new TcpClient();
        await client.ConnectAsync(sleepIp, 15001);
        var stream = client.GetStream();
        const int size = 8 * 1024 * 1024;
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {Base}/upload HTTP/1.1\r\nHost: helloworld.sample:5000\r\nContent-Length: {size}\r\n\r\n"));
        var sending = Task.Run(async () =>
        {
            var piece = new byte[64 * 1024];
            for (var sent = 0; sent < size; sent += piece.Length)
            {
                await stream.WriteAsync(piece);
            }
        });

        var answer = await ReadUntilAsync(stream, "too large", TimeSpan.FromSeconds(20));
        output.WriteLine(answer);
        Assert.StartsWith("HTTP/1.1 413 Payload Too Large\r\n", answer, StringComparison.Ordinal);
        // Both sidecars read the rest of the body and dropped it, so the client's writes all went through.
        await sending.WaitAsync(TimeSpan.FromSeconds(20));
        // helloworld's sidecar always has the answer before the body (the application stops reading), so it cuts the body
        // and drains the rest at once. Sleep's sidecar may then finish sending the body before it reads the answer: the
        // request is whole, and the client's connection goes on. When the answer came first, it ends with the answer.
        if (answer.Contains("Connection: close", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Equal(0, await ReadToEndAsync(client, TimeSpan.FromSeconds(15)));
        }

        // Each sidecar records its request once its own exchange ends, which may be after the client read the answer.
        await DataPlaneLab.WaitUntilAsync(() => sleep.Metrics.RequestCount(k => k.Reporter == "source" && k.ResponseCode == 413) == 1, "Sleep's sidecar records the 413");
        await DataPlaneLab.WaitUntilAsync(() => hello.Metrics.RequestCount(k => k.Reporter == "destination" && k.ResponseCode == 413) == 1, "helloworld's sidecar records the 413");
        await stop.CancelAsync();
        await refusing;
    }

    [Fact]
    public async Task ADrainingSidecar_SaysItClosesAnIdleMeshConnection_AndDropsTheRequestThatCrossedItsNotice()
    {
        await using var lab = new DataPlaneLab();
        var mesh = await lab.StartOneServiceAsync();
        using var intermediate = lab.Root.CreateIntermediate("cluster1");
        using var leaf = ForgedCertificates.Leaf(intermediate, new SpiffeId("cluster.local", "sample", "sleep"));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(mesh.Hello, 15006);
        await using var ssl = new SslStream(tcp.GetStream());
        await ssl.AuthenticateAsClientAsync(MeshTls.ClientOptions("outbound_.5000_._.helloworld.sample.svc.cluster.local", SslStreamCertificateContext.Create(leaf, [intermediate.Signer], offline: true), SslApplicationProtocol.Http11));
        var get = "GET /hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n"u8.ToArray();
        await ssl.WriteAsync(get);
        // The answer is chunked: read to its last chunk, or that chunk's bytes would be taken for the start of the next answer.
        var first = await ReadUntilAsync(ssl, "\r\n0\r\n\r\n", TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 200", first, StringComparison.Ordinal);
        Assert.Contains("instance: v1\n", first, StringComparison.Ordinal);

        // The sidecar is told to stop (what SIGTERM does) while the connection is idle. The next request is sent once the
        // sidecar's notice is here: the two crossed on the wire, which is the race a plain close loses.
        var stopping = lab.StopAsync(mesh.HelloSidecar);
        await DataPlaneLab.WaitUntilAsync(() => tcp.Client.Poll(0, SelectMode.SelectRead), "the draining sidecar's notice arrives");
        await ssl.WriteAsync(get);
        var answer = await ReadUntilAsync(ssl, "\r\n\r\n", TimeSpan.FromSeconds(10));
        output.WriteLine(answer);
        Assert.Equal(Encoding.ASCII.GetString(IdleCloseNotice.Bytes), answer);
        // The request was dropped unread, and the sidecar stops once the client has closed.
        ssl.Close();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, mesh.App.Seen.Count(p => p == "GET /hello"));
    }

    [Fact]
    public async Task AnUpstreamsIdleCloseNotice_SendsTheRequestAgainOnANewConnection()
    {
        await using var lab = new DataPlaneLab();
        // The application answers a connection's second request with the notice, as a server does when it closes an idle
        // connection just as a request arrives on it.
        var (sleep, sleepIp, application) = await StartWithApplicationWithoutSidecarAsync(lab);
        using var closesApplication = application;
        using var stop = new CancellationTokenSource();
        var requests = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var serving = NoticeOnSecondRequestAsync(application, requests, stop.Token);
        using var client = DataPlaneLab.ClientVia(sleepIp);

        Assert.Equal("connection 1", await client.GetStringAsync(Base + "/hello"));
        Assert.Equal("connection 2", await client.GetStringAsync(Base + "/hello"));
        Assert.Equal([1, 1, 2], requests.ToArray());
        await DataPlaneLab.WaitUntilAsync(() => sleep.Metrics.RequestCount(k => k.Reporter == "source" && k.ResponseCode == 200) == 2, "Sleep's sidecar counts both requests");
        await stop.CancelAsync();
        await serving;
    }

    [Fact]
    public async Task AnUpstreamsAnswerInPieces_ItsInformationalHead_AndItsCloseWithoutAnswer_ReachTheClientAsTheyCame()
    {
        await using var lab = new DataPlaneLab();
        // Without a sidecar the upstream connection is plain, read straight from its socket.
        var (sleep, sleepIp, application) = await StartWithApplicationWithoutSidecarAsync(lab);
        using var closesApplication = application;
        using var stop = new CancellationTokenSource();
        var serving = AnswerAwkwardlyAsync(application, stop.Token);

        static string Get(string path) => $"GET {path} HTTP/1.1\r\nHost: helloworld.sample:5000\r\nConnection: close\r\n\r\n";
        var pieces = await RawAsync(sleepIp, Get("/pieces"));
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", pieces, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nhello", pieces, StringComparison.Ordinal);

        var hinted = await RawAsync(sleepIp, Get("/hints"));
        Assert.StartsWith("HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\nHTTP/1.1 200 OK\r\n", hinted, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nok", hinted, StringComparison.Ordinal);

        var closed = await RawAsync(sleepIp, Get("/close"));
        Assert.StartsWith("HTTP/1.1 502 Bad Gateway\r\n", closed, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\nupstream connect error or disconnect/reset before headers. reset reason: ", closed, StringComparison.Ordinal);
        await DataPlaneLab.WaitUntilAsync(() => sleep.Metrics.RequestCount(k => k.Reporter == "source" && k.ResponseCode == 200) == 2, "Sleep's sidecar counts two answers");
        await DataPlaneLab.WaitUntilAsync(() => sleep.Metrics.RequestCount(k => k.Reporter == "source" && k.ResponseCode == 502) == 1, "and one 502");
        await stop.CancelAsync();
        await serving;
    }

    /// <summary>
    /// A cluster whose helloworld is an application without a sidecar (tlsMode disabled), listening for the test to serve
    /// it (it owns the listener), and Sleep's sidecar, once it sees that endpoint.
    /// </summary>
    private static async Task<(ProxyServer Sleep, IPAddress SleepIp, TcpListener Application)> StartWithApplicationWithoutSidecarAsync(DataPlaneLab lab)
    {
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, appIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Manifests.Service("helloworld", 5000) + "\n---\n" + Manifests.Workload("legacy", "helloworld", appIp.ToString(), "v1", tlsMode: "disabled"));
        var application = new TcpListener(appIp, 5000);
        application.Start();
        try
        {
            var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
            await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 1, "sleep sees helloworld");
            return (sleep, sleepIp, application);
        }
        catch
        {
            application.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Answers /pieces with its head and body in four writes 50 ms apart, /hints with a 103 before its 200, and /close by
    /// closing without an answer; one request per connection, each answer saying so.
    /// </summary>
    private static async Task AnswerAwkwardlyAsync(TcpListener listener, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                using var socket = await listener.AcceptSocketAsync(stop);
                var head = new StringBuilder();
                var buffer = new byte[4096];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await socket.ReceiveAsync(buffer, stop);
                    if (n == 0)
                    {
                        break;
                    }

                    head.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }

                string[] writes = head.ToString().Split(' ')[1] switch
                {
                    "/pieces" => ["HTTP/1.1 200 OK\r\nCont", "ent-Length: 5\r\nConnection: close\r\n\r", "\nhel", "lo"],
                    "/hints" => ["HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"],
                    _ => [],
                };
                foreach (var write in writes)
                {
                    await socket.SendAsync(Encoding.ASCII.GetBytes(write), stop);
                    await Task.Delay(50, stop);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Serves each connection: its first request gets 200 naming the connection, its second the idle-close notice.</summary>
    private static async Task NoticeOnSecondRequestAsync(TcpListener listener, System.Collections.Concurrent.ConcurrentQueue<int> requests, CancellationToken stop)
    {
        var connections = new List<Task>();
        try
        {
            for (var n = 1; ; n++)
            {
                var socket = await listener.AcceptSocketAsync(stop);
                var id = n;
                connections.Add(Task.Run(async () =>
                {
                    using var owned = socket;
                    var buffer = new byte[4096];
                    for (var request = 1; ; request++)
                    {
                        var head = "";
                        while (!head.EndsWith("\r\n\r\n", StringComparison.Ordinal))
                        {
                            var read = await socket.ReceiveAsync(buffer, stop);
                            if (read == 0)
                            {
                                return;
                            }

                            head += Encoding.ASCII.GetString(buffer, 0, read);
                        }

                        requests.Enqueue(id);
                        if (request == 2)
                        {
                            await socket.SendAsync(IdleCloseNotice.Bytes.ToArray(), stop);
                            socket.Shutdown(SocketShutdown.Send);
                            while (await socket.ReceiveAsync(buffer, stop) > 0)
                            {
                            }

                            return;
                        }

                        var body = $"connection {id}";
                        await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{body}"), stop);
                    }
                }, stop));
            }
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            await Task.WhenAll(connections);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
        }
    }

    /// <summary>Answers 413 to every request as soon as its head is in, without reading its body.</summary>
    private static async Task RefuseUploadsAsync(TcpListener listener, bool close, CancellationToken stop)
    {
        var held = new List<Socket>();
        try
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync(stop);
                held.Add(socket);
                var head = new StringBuilder();
                var buffer = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await socket.ReceiveAsync(buffer, stop) == 1)
                {
                    head.Append((char)buffer[0]);
                }

                await socket.SendAsync("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large"u8.ToArray(), stop);
                if (close)
                {
                    socket.Close();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    /// <summary>Reads until <paramref name="end"/> has arrived; what was read.</summary>
    internal static async Task<string> ReadUntilAsync(Stream stream, string end, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().Contains(end, StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer, timeout.Token);
            if (n == 0)
            {
                break;
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return text.ToString();
    }

    /// <summary>Reads until the peer closes; the bytes read (-1 if it did not close within <paramref name="limit"/>).</summary>
    internal static async Task<int> ReadToEndAsync(TcpClient client, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        var buffer = new byte[4096];
        var total = 0;
        try
        {
            while (true)
            {
                var n = await client.GetStream().ReadAsync(buffer, timeout.Token);
                if (n == 0)
                {
                    return total;
                }

                total += n;
            }
        }
        catch (OperationCanceledException)
        {
            return -1;
        }
        catch (IOException)
        {
            return total;
        }
    }

    /// <summary>Sends raw bytes to the sidecar's outbound port and returns everything it answers until it closes.</summary>
    internal static async Task<string> RawAsync(IPAddress sidecar, string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sidecar, 15001);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var text = new StringBuilder();
        var buffer = new byte[65536];
        int n;
        while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return text.ToString();
    }
}
