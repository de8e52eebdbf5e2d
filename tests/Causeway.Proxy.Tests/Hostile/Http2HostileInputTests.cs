using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using Xunit.Abstractions;
using static Causeway.Testing.Http2FrameClient;
using static Causeway.Testing.ForgedCertificates;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Hostile;

/// <summary>
/// Reliability suite P-1..P-3: HTTP/2 abuse at a destination sidecar's inbound port (what another cluster reaches
/// through a passthrough gateway), by a caller holding a valid mesh certificate. Each attack runs against a service
/// whose application speaks HTTP/1.1 (the inbound HTTP/2 is Kestrel's) and one whose application speaks HTTP/2 (the
/// sidecar's own HTTP/2 path, <see cref="Causeway.Proxy.Http2.Http2Forwarder"/>).
/// </summary>
public class Http2HostileInputTests(ITestOutputHelper output)
{
    private const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";
    private const string Authority = "helloworld.sample:5000";

    [Theory]
    [InlineData("HTTP")]
    [InlineData("HTTP2")]
    public async Task RapidReset_TheConnectionIsClosed_TheAppNeverHoldsMoreThanTheStreamLimit_AndOthersAreServed(string protocol)
    {
        await using var mesh = await AttackedServiceAsync(protocol);
        await using var attacker = await mesh.AttackerAsync();
        var legit = SteadyLoad.Start(mesh.Sleep, 50);

        // CVE-2023-44487: open a stream and cancel it at once, 10,000 times, never exceeding the concurrent-stream limit on paper.
        var block = RequestBlock(Authority, "/slow?ms=2000");
        var started = Stopwatch.GetTimestamp();
        var pairs = 0;
        for (uint batch = 0; batch < 100 && !attacker.Closed.IsCompleted; batch++)
        {
            var frames = new List<byte>();
            for (uint i = 0; i < 100; i++)
            {
                var stream = ((batch * 100) + i) * 2 + 1;
                frames.AddRange(Frame(Headers, EndHeaders | EndStream, stream, block));
                frames.AddRange(Frame(RstStream, 0, stream, [0, 0, 0, (byte)Cancel]));
            }

            if (!await attacker.TrySendAsync(frames.ToArray()))
            {
                break;
            }

            pairs += 100;
        }

        await attacker.Closed.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        var legitResult = await legit.StopAsync();
        var goAway = attacker.GoAwayReceived.IsCompleted ? await attacker.GoAwayReceived : default;
        output.WriteLine($"wrote {pairs} HEADERS+RST pairs; closed after {Stopwatch.GetElapsedTime(started, attacker.ClosedAt).TotalMilliseconds:0} ms; GOAWAY {(attacker.GoAwayReceived.IsCompleted ? $"0x{goAway.Error:x}" : "none")}; legit {legitResult}");
        output.WriteLine(mesh.Metrics());

        var slow = mesh.App.Seen.Count(p => p.Contains("/slow", StringComparison.Ordinal));
        output.WriteLine($"the app saw {slow} of the attacker's requests");
        Assert.True(Stopwatch.GetElapsedTime(started, attacker.ClosedAt) < TimeSpan.FromSeconds(2), "the server kept a connection that reset thousands of streams");
        Assert.True(slow <= 100, $"{slow} of the attacker's cancelled requests reached the app");
        Assert.Equal(0, legitResult.Failed);
        Assert.True(legitResult.Ok > 0);
        // Kestrel records why it closed the connection when the connection's processing ends: after every stream's
        // handler has returned, within milliseconds in most runs. In about one suite run in six Kestrel's HTTP/2
        // processing of the attacked connection never ends (a dump showed it unrooted, no handler of ours pending:
        // dotnet/aspnetcore#51307); the inbound listener then stops waiting ProxyOptions.ClosedConnectionGrace after
        // the close, so the reason is counted and the connection's slot freed all the same.
        var waited = Stopwatch.GetTimestamp();
        await DataPlaneLab.WaitUntilAsync(() => System.Text.RegularExpressions.Regex.IsMatch(mesh.Metrics(), "listener=\"inbound\",outcome=\"(stream_reset_limit_exceeded|output_queue_size_exceeded)\""), "a counter says why the connection was closed: " + mesh.Metrics(), 30);
        output.WriteLine($"the close reason was counted {Stopwatch.GetElapsedTime(waited).TotalMilliseconds:0} ms after the checks began");
    }

    [Theory]
    [InlineData("HTTP")]
    [InlineData("HTTP2")]
    public async Task TooManyConcurrentStreams_AreRefusedBeyondTheAdvertisedLimit(string protocol)
    {
        await using var mesh = await AttackedServiceAsync(protocol);
        await using var attacker = await mesh.AttackerAsync();
        var block = RequestBlock(Authority, "/slow?ms=1500");
        var frames = new List<byte>();
        for (uint i = 0; i < 300; i++)
        {
            frames.AddRange(Frame(Headers, EndHeaders | EndStream, (i * 2) + 1, block));
        }

        await attacker.TrySendAsync(frames.ToArray());
        await DataPlaneLab.WaitUntilAsync(() => attacker.Responses + attacker.Resets(RefusedStream) + attacker.Resets(EnhanceYourCalm) >= 300 || attacker.Closed.IsCompleted, "every stream is answered or refused");
        output.WriteLine($"advertised {attacker.MaxConcurrentStreams}; responses {attacker.Responses}; REFUSED_STREAM {attacker.Resets(RefusedStream)}; ENHANCE_YOUR_CALM {attacker.Resets(EnhanceYourCalm)}; closed {attacker.Closed.IsCompleted}; the app held at most {mesh.App.MaxInFlight} at once");
        output.WriteLine(mesh.Metrics());

        Assert.Equal(100u, attacker.MaxConcurrentStreams);
        Assert.True(mesh.App.MaxInFlight <= 100, $"the app held {mesh.App.MaxInFlight} requests at once from one connection");
        await mesh.StillServesAsync("/never");
    }

    [Theory]
    [InlineData("HTTP")]
    [InlineData("HTTP2")]
    public async Task AnHpackBomb_IsRefusedBeforeItIsExpanded(string protocol)
    {
        await using var mesh = await AttackedServiceAsync(protocol);
        await using var attacker = await mesh.AttackerAsync();

        // One 4 KB header enters the dynamic table, then 20,000 one-byte references to it: 40 KB sent, 80 MB decoded.
        var block = new List<byte>(RequestBlock(Authority, "/bomb"));
        block.Add(0x40);
        Http2FrameClient.String(block, "x-bomb");
        Http2FrameClient.String(block, new string('a', 4000));
        block.AddRange(Enumerable.Repeat((byte)0xBE, 20_000));
        var started = Stopwatch.GetTimestamp();
        await attacker.TrySendAsync(HeaderFrames(1, block.ToArray(), endStream: true));
        await Task.WhenAny(attacker.Closed, Task.Delay(TimeSpan.FromSeconds(5)));
        output.WriteLine($"closed {attacker.Closed.IsCompleted} after {Stopwatch.GetElapsedTime(started, attacker.ClosedAt).TotalMilliseconds:0} ms; responses {attacker.Responses}; GOAWAY {(attacker.GoAwayReceived.IsCompleted ? $"0x{(await attacker.GoAwayReceived).Error:x}" : "none")}");
        output.WriteLine(mesh.Metrics());

        Assert.True(attacker.Closed.IsCompleted || attacker.Responses == 1, "the bomb was neither refused nor answered");
        await mesh.StillServesAsync("/bomb");
    }

    [Theory]
    [InlineData("HTTP")]
    [InlineData("HTTP2")]
    public async Task AContinuationFlood_IsCutOffAtTheHeaderLimit(string protocol)
    {
        await using var mesh = await AttackedServiceAsync(protocol);
        await using var attacker = await mesh.AttackerAsync();

        // CVE-2024-27316's shape: a header block that never ends, 16 KiB of fresh headers per CONTINUATION.
        var started = Stopwatch.GetTimestamp();
        var sent = 0;
        var first = true;
        while (sent < 8 * 1024 * 1024 && !attacker.Closed.IsCompleted)
        {
            var block = new List<byte>(first ? RequestBlock(Authority, "/continuation") : []);
            block.Add(0x00);
            Http2FrameClient.String(block, $"x-c{sent}");
            Http2FrameClient.String(block, new string('c', 16_000));
            if (!await attacker.TrySendAsync(Frame(first ? Headers : Continuation, first ? EndStream : (byte)0, 1, block.ToArray())))
            {
                break;
            }

            sent += block.Count;
            first = false;
        }

        await attacker.Closed.WaitAsync(TimeSpan.FromSeconds(5));
        output.WriteLine($"wrote {sent / 1024} KiB of header block; closed after {Stopwatch.GetElapsedTime(started, attacker.ClosedAt).TotalMilliseconds:0} ms; GOAWAY {(attacker.GoAwayReceived.IsCompleted ? $"0x{(await attacker.GoAwayReceived).Error:x}" : "none")}");
        output.WriteLine(mesh.Metrics());

        Assert.True(sent < 8 * 1024 * 1024, "8 MiB of headers were accepted for one request");
        await mesh.StillServesAsync("/continuation");
    }

    [Theory]
    [InlineData("PING", "HTTP")]
    [InlineData("SETTINGS", "HTTP")]
    [InlineData("PING", "HTTP2")]
    [InlineData("SETTINGS", "HTTP2")]
    public async Task AControlFrameFloodFromAClientThatDoesNotRead_IsBounded(string kind, string protocol)
    {
        await using var mesh = await AttackedServiceAsync(protocol);
        await using var attacker = await mesh.AttackerAsync(read: false);
        var frame = kind == "PING" ? Frame(Ping, 0, 0, new byte[8]) : Frame(Settings, 0, 0, [0, 0x4, 0, 0, 0xff, 0xff]);
        var batch = new byte[frame.Length * 1000];
        for (var i = 0; i < 1000; i++)
        {
            frame.CopyTo(batch, i * frame.Length);
        }

        // Every frame asks for an answer the client never reads: the server must stop reading or hang up, not queue answers without end.
        var written = 0L;
        var stop = false;
        var writing = Task.Run(async () =>
        {
            while (!Volatile.Read(ref stop) && Interlocked.Read(ref written) < 64L * 1024 * 1024 && await attacker.TrySendAsync(batch))
            {
                Interlocked.Add(ref written, batch.Length);
            }
        });
        await Task.WhenAny(writing, Task.Delay(TimeSpan.FromSeconds(5)));
        var stalledAt = Interlocked.Read(ref written);
        Volatile.Write(ref stop, true);

        // Reading again lets the server go on: the connection was held back, not broken.
        attacker.StartReading();
        await DataPlaneLab.WaitUntilAsync(() => attacker.BytesRead > 0 || attacker.Closed.IsCompleted, "the server answers again", 10);
        await writing.WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"{kind}: the server stopped taking frames after {stalledAt / 1024} KiB (its socket buffers and ours included); then answered {attacker.BytesRead / 1024} KiB once read; closed {attacker.Closed.IsCompleted}; GOAWAY {(attacker.GoAwayReceived.IsCompleted ? $"0x{(await attacker.GoAwayReceived).Error:x}" : "none")}");
        output.WriteLine(mesh.Metrics());

        Assert.True(stalledAt < 64L * 1024 * 1024, $"the server took 64 MiB of {kind} frames from a client that read nothing");
        await mesh.StillServesAsync("/never");
    }

    [Theory]
    [InlineData("HTTP")]
    [InlineData("HTTP2")]
    public async Task AProtocolError_ClosesTheConnectionWithGoAway_AndACounterSaysWhy(string protocol)
    {
        await using var mesh = await AttackedServiceAsync(protocol);
        await using var attacker = await mesh.AttackerAsync();
        await attacker.TrySendAsync(Frame(Data, 0, 0, "not on stream 0"u8));
        await attacker.Closed.WaitAsync(TimeSpan.FromSeconds(5));
        var (error, _) = await attacker.GoAwayReceived.WaitAsync(TimeSpan.FromSeconds(1));
        output.WriteLine(mesh.Metrics());
        Assert.Equal(0x1u, error);
        await DataPlaneLab.WaitUntilAsync(() => mesh.Metrics().Contains("listener=\"inbound\",outcome=\"invalid_stream_id\"", StringComparison.Ordinal), "the counter of invalid stream ids moves", 5);
        await mesh.StillServesAsync("/never");
    }

    private sealed record AttackedService(DataPlaneLab Lab, TestApp App, IPAddress Hello, IPAddress Sleep, ProxyServer HelloSidecar, CertificateAuthority Intermediate) : IAsyncDisposable
    {
        public async Task<Http2FrameClient> AttackerAsync(bool read = true)
        {
            using var leaf = Leaf(Intermediate, new SpiffeId("cluster.local", "sample", "sleep"));
            return await ConnectAsync(Hello, 15006, Sni, SslStreamCertificateContext.Create(leaf, [Intermediate.Signer], offline: true), read);
        }

        /// <summary>Checks that the service answers another caller now, and that none of the attacker's requests (marked by <paramref name="path"/>) reached the app.</summary>
        public async Task StillServesAsync(string path)
        {
            using var client = DataPlaneLab.ClientVia(Sleep);
            Assert.StartsWith("Hello version: v1", await client.GetStringAsync("http://helloworld.sample:5000/hello"), StringComparison.Ordinal);
            Assert.DoesNotContain(App.Seen, p => p.Contains(path, StringComparison.Ordinal));
        }

        public string Metrics() => string.Join('\n', HelloSidecar.Metrics.ToPrometheus().Split('\n').Where(l => l.StartsWith("causeway_connections_total", StringComparison.Ordinal)));

        public async ValueTask DisposeAsync()
        {
            Intermediate.Dispose();
            await Lab.DisposeAsync();
        }
    }

    private static async Task<AttackedService> AttackedServiceAsync(string protocol)
    {
        var lab = new DataPlaneLab();
        try
        {
            var mesh = await lab.StartOneServiceAsync(protocol: protocol);
            return new AttackedService(lab, mesh.App, mesh.Hello, mesh.Sleep, mesh.HelloSidecar, lab.Root.CreateIntermediate("cluster1"));
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }
}
