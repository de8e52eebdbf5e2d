using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Http2;
using Causeway.Proxy.Tests.Http2;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using Xunit.Abstractions;

namespace Causeway.Proxy.Tests.Http1;

/// <summary>
/// HTTP/1.1 clients whose mesh hop is HTTP/2 (a DestinationRule's h2UpgradePolicy UPGRADE, or an HTTP2 port): Sleep's
/// sidecar sends each request as a stream of a pooled HTTP/2 connection and writes the response back as HTTP/1.1, on
/// its direct path.
/// </summary>
public class UpgradedRequestStreamTests(ITestOutputHelper output)
{
    private const string Base = "http://helloworld.sample:5000";

    [Theory]
    [InlineData("HTTP")]
    [InlineData("HTTP2")]
    public async Task AnUpgradedHop_StaysOnTheDirectPath_AndCarriesHeadsBodiesAndKeepAlive(string protocol)
    {
        await using var lab = new DataPlaneLab();
        var mesh = await lab.StartOneServiceAsync(protocol == "HTTP" ? Manifests.H2Upgrade("helloworld") : "", protocol: protocol);
        await DataPlaneLab.WaitUntilAsync(() => mesh.SleepSidecar.Config.Current?.Find(DataPlaneLab.Host, 5000)?.MeshHopIsHttp2(requestIsHttp2: false) == true, "sleep's sidecar has the HTTP/2 hop");
        using var client = DataPlaneLab.ClientVia(mesh.Sleep);

        for (var i = 0; i < 30; i++)
        {
            Assert.Equal("Hello version: v1, instance: v1\n", await client.GetStringAsync(Base + "/hello"));
        }

        // A response without a length arrives chunked; one with a length keeps it.
        Assert.Equal(string.Concat(Enumerable.Range(0, 200).Select(i => $"part {i}\n")), await client.GetStringAsync(Base + "/chunked?n=200"));
        using (var hello = await client.GetAsync(Base + "/hello"))
        {
            Assert.Equal(32, hello.Content.Headers.ContentLength);
        }

        // Bodies past every flow-control window both ways: the request's goes as the windows open, and the response's
        // is credited as the client takes it.
        var body = new byte[(3 * 1024 * 1024) + 17];
        new Random(7).NextBytes(body);
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

        // Two requests in one write, answered in order on one connection, the second closing it; the mesh hop's
        // :authority is the client's Host, and the application sees the protocol of its port.
        var text = await Http1ForwarderTests.RawAsync(mesh.Sleep,
            $"POST {Base}/echo HTTP/1.1\r\nHost: helloworld.sample:5000\r\nContent-Length: 5\r\nX-Custom: One\r\n\r\nhello" +
            $"GET {Base}/whoami HTTP/1.1\r\nHost: helloworld.sample:5000\r\nConnection: close\r\n\r\n");
        output.WriteLine(text);
        var first = text.IndexOf("\r\nhello\r\n", StringComparison.Ordinal);
        var second = text.IndexOf("host=helloworld.sample:5000", StringComparison.Ordinal);
        Assert.True(first > 0 && second > first, text);
        Assert.Contains("connection: close", text[first..], StringComparison.OrdinalIgnoreCase);
        Assert.Contains(protocol == "HTTP" ? "proto=HTTP/1.1" : "proto=HTTP/2", text, StringComparison.Ordinal);

        Assert.Equal(0, mesh.SleepSidecar.Metrics.ConnectionCount(KestrelConnectionEnds.OutboundListener, "http1_to_kestrel"));
        // Every request went on one pooled mesh connection, which helloworld's sidecar took on its direct HTTP/2 path.
        Assert.Equal(1, mesh.HelloSidecar.Metrics.ConnectionCount(InboundConnection.Listener, "http2_direct"));
        Assert.Equal(0, mesh.HelloSidecar.Metrics.ConnectionCount(InboundConnection.Listener, "http1"));
        await DataPlaneLab.WaitUntilAsync(() => mesh.SleepSidecar.Metrics.RequestCount(k => k.Reporter == "source" && k.ResponseCode == 200 && k.DestinationWorkload == "helloworld-v1") == 36, "Sleep's sidecar counts 36 requests");
    }

    [Fact]
    public async Task AnUnreachableEndpointIsRetriedElsewhere_ButARequestThatReachedAnApplicationIsNot()
    {
        await using var lab = new DataPlaneLab();
        var (app, _, _, deadIp, sleepIp, sleep) = await TwoEndpointsAsync(lab, secondAlive: false);
        using var client = DataPlaneLab.ClientVia(sleepIp);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Base + "/hello")).StatusCode);
        }

        Assert.Equal(20, app.Seen.Count(p => p == "GET /hello"));
        using var admin = new HttpClient { BaseAddress = new Uri($"http://{sleepIp}:15000") };
        Assert.Contains($"helloworld.sample.svc.cluster.local::{deadIp}:5000::health_flags::/failed_outlier_check", await admin.GetStringAsync("/clusters"), StringComparison.Ordinal);

        // The application drops the connection after it got the request: a 502, sent nowhere else.
        Assert.Equal(HttpStatusCode.BadGateway, (await client.GetAsync(Base + "/abort")).StatusCode);
        Assert.Equal(1, app.Seen.Count(p => p == "GET /abort"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Base + "/hello")).StatusCode);
        Assert.Equal(0, sleep.Metrics.ConnectionCount(KestrelConnectionEnds.OutboundListener, "http1_to_kestrel"));
    }

    [Fact]
    public async Task AStoppingDestinationSidecar_FinishesTheUpgradedRequestsInFlight_AndTheClientsConnectionGoesOn()
    {
        await using var lab = new DataPlaneLab();
        var (appA, appB, sidecarA, _, sleepIp, _) = await TwoEndpointsAsync(lab, secondAlive: true);

        // Several slow requests in flight at A on HTTP/1.1 connections of their own, while A's sidecar is told to stop.
        var slow = new List<Task<string>>();
        for (var i = 0; i < 6; i++)
        {
            slow.Add(RawOnOneConnectionAsync(sleepIp, "/slow?ms=1500", "/hello"));
        }

        await DataPlaneLab.WaitUntilAsync(() => appA.Seen.Any(p => p.StartsWith("GET /slow", StringComparison.Ordinal)), "slow requests reach A");
        var stopping = lab.StopAsync(sidecarA);
        var answers = await Task.WhenAll(slow);
        foreach (var answer in answers)
        {
            output.WriteLine(answer.Split("\r\n")[0]);
            // Both the slow request and the one after it on the same client connection are answered.
            Assert.Equal(2, answer.Split("HTTP/1.1 200 OK").Length - 1);
        }

        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(6, appA.Seen.Count(p => p.StartsWith("GET /slow", StringComparison.Ordinal)) + appB!.Seen.Count(p => p.StartsWith("GET /slow", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task StreamedBodiesThatAGoAwayLeftOut_AreSentAgainWhole_AsFarAsTheRetryBufferReaches()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, helloIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(15006));
        await c1.ApplyAsync(Manifests.Service("helloworld", 5000) + "\n---\n" + Manifests.Workload("helloworld-a", "helloworld", helloIp.ToString(), "v1") + "\n---\n" + Manifests.H2Upgrade("helloworld"));

        // helloworld's "sidecar" answers one stream per connection, after a pause in which the others arrive (with room
        // for a slow machine), and then leaves them out with its GOAWAY, as a destination rotating its connections does.
        using var ca = lab.Root.CreateIntermediate("cluster1");
        using var leaf = ForgedCertificates.Leaf(ca, new SpiffeId("cluster.local", "sample", "helloworld"));
        using var hello = new OneAnswerPerConnection(helloIp, 15006, TimeSpan.FromMilliseconds(600), SslStreamCertificateContext.Create(leaf, [ca.Signer], offline: true));
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp, http2: new Http2Limits { RetryBufferBytes = 16 * 1024 });
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 1 && sleep.Config.Current?.Find(DataPlaneLab.Host, 5000)?.H2Upgrade == true, "sleep sees the endpoint and the upgrade");
        using var client = DataPlaneLab.ClientVia(sleepIp);

        // Each body comes after its head, in two writes, so that the sidecar reads it on from the client's connection
        // once the stream is open (it cannot keep it unconsumed for the client connection to send again). The last is
        // past the retry buffer: nothing is kept of it to send again.
        var sizes = new[] { 1024, 3000, 32 * 1024 };
        var answers = await Task.WhenAll(sizes.Select(async (size, i) =>
        {
            await Task.Delay(50 * i);
            var body = RandomNumberGenerator.GetBytes(size);
            using var response = await client.PostAsync(Base + "/echo", new PausingContent(body));
            var answer = await response.Content.ReadAsByteArrayAsync();
            return (response.StatusCode, Echoed: answer.AsSpan().SequenceEqual([.. "ok"u8, .. body]), Text: Encoding.ASCII.GetString(answer));
        }));

        foreach (var answer in answers)
        {
            output.WriteLine($"{answer.StatusCode}: {answer.Text[..Math.Min(80, answer.Text.Length)]}");
        }

        Assert.Equal((HttpStatusCode.OK, true), (answers[0].StatusCode, answers[0].Echoed));
        Assert.Equal((HttpStatusCode.OK, true), (answers[1].StatusCode, answers[1].Echoed));
        Assert.Equal(HttpStatusCode.BadGateway, answers[2].StatusCode);
        Assert.Contains("GOAWAY", answers[2].Text, StringComparison.Ordinal);
        Assert.Equal(2, hello.LeftOut);
        Assert.Equal(2, hello.Connections);
    }

    /// <summary>A body of a known length written after its head has left, in two halves with a pause between.</summary>
    private sealed class PausingContent(byte[] body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.FlushAsync();
            await Task.Delay(30);
            await stream.WriteAsync(body.AsMemory(0, body.Length / 2));
            await stream.FlushAsync();
            await Task.Delay(30);
            await stream.WriteAsync(body.AsMemory(body.Length / 2));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }

    /// <summary>
    /// helloworld at A and at B with the upgrade rule, each with its application and sidecar (A's drains for the default
    /// time when stopped); with <paramref name="secondAlive"/> false, nothing listens at B. Sleep's sidecar, once it sees both.
    /// </summary>
    private static async Task<(TestApp A, TestApp? B, ProxyServer SidecarA, IPAddress BIp, IPAddress SleepIp, ProxyServer Sleep)> TwoEndpointsAsync(DataPlaneLab lab, bool secondAlive)
    {
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, aIp, bIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Manifests.Service("helloworld", 5000) + "\n---\n" + Manifests.Workload("helloworld-a", "helloworld", aIp.ToString(), "v1") + "\n---\n" +
            Manifests.Workload("helloworld-b", "helloworld", bIp.ToString(), "v1") + "\n---\n" + Manifests.H2Upgrade("helloworld"));
        var appA = await lab.StartAppAsync(aIp, 5000, "v1", "a");
        var sidecarA = await lab.StartSidecarAsync(c1, "helloworld-a", "sample", "helloworld", aIp, drainTime: ProxyOptions.DefaultDrainTime);
        TestApp? appB = null;
        if (secondAlive)
        {
            appB = await lab.StartAppAsync(bIp, 5000, "v1", "b");
            await lab.StartSidecarAsync(c1, "helloworld-b", "sample", "helloworld", bIp);
        }

        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 2 && sleep.Config.Current?.Find(DataPlaneLab.Host, 5000)?.H2Upgrade == true, "sleep sees both endpoints and the upgrade");
        return (appA, appB, sidecarA, bIp, sleepIp, sleep);
    }

    /// <summary>Two requests on one client connection, the second sent once the first is answered; everything read until the close.</summary>
    private static async Task<string> RawOnOneConnectionAsync(IPAddress sidecar, string firstPath, string secondPath)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sidecar, 15001);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {Base}{firstPath} HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n"));
        var first = await Http1ForwarderTests.ReadUntilAsync(stream, " ms from ", TimeSpan.FromSeconds(20));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {Base}{secondPath} HTTP/1.1\r\nHost: helloworld.sample:5000\r\nConnection: close\r\n\r\n"));
        var rest = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var buffer = new byte[4096];
        int n;
        while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
        {
            rest.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return first + rest;
    }
}
