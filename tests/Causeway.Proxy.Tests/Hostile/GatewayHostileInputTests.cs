using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Causeway.Proxy.Gateway;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using Xunit.Abstractions;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Hostile;

/// <summary>Reliability suite G1 (T1–T4) and G9: what an internet-facing east-west gateway does with bytes that are not a good ClientHello, and with a flood of idle connections.</summary>
[Collection(RunsAloneCollection.Name)]
public class GatewayHostileInputTests(ITestOutputHelper output)
{
    private const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";

    [Fact]
    public async Task SlowFragmentedOversizedAndNonTlsHellos_AreHandledAndCounted_AndTheGatewayKeepsServing()
    {
        await using var lab = new DataPlaneLab();
        var c2 = await lab.StartClusterAsync("cluster2", "network2");
        var (v2Ip, gwIp) = (LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(15443, 15000, 15021));
        await c2.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v2", "helloworld", v2Ip.ToString(), "v2") + "\n---\n" + EastWestGateway(gwIp.ToString(), "network2") + "\n---\n" + ExposeServices);
        await lab.StartAppAsync(v2Ip, 5000, "v2", "v2");
        await lab.StartSidecarAsync(c2, "helloworld-v2", "sample", "helloworld", v2Ip);
        var gateway = await lab.StartGatewayAsync(c2, gwIp, clientHelloTimeout: TimeSpan.FromSeconds(1));
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(gateway) == 1, "the gateway sees v2");
        var hello = Hello(Sni);

        // T2: the ClientHello one byte per TCP segment still routes (the destination sidecar answers the handshake).
        using (var fragmented = new TcpClient { NoDelay = true })
        {
            await fragmented.ConnectAsync(gwIp, 15443);
            // NoDelay sends each byte as its own segment; no sleep, so the whole hello beats the 1 s limit.
            foreach (var b in hello)
            {
                await fragmented.GetStream().WriteAsync(new[] { b });
            }

            var reply = new byte[5];
            Assert.Equal(5, await fragmented.GetStream().ReadAtLeastAsync(reply, 5).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(0x16, reply[0]);
        }

        Assert.Equal(1, gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded"));

        // T4: a ClientHello trickling in is closed at the ClientHello timeout (1 s here), not held open.
        using (var slow = new TcpClient())
        {
            await slow.ConnectAsync(gwIp, 15443);
            var closed = ReadToEndAsync(slow.GetStream());
            var started = DateTime.UtcNow;
            for (var i = 0; i < 10 && !closed.IsCompleted; i++)
            {
                try
                {
                    await slow.GetStream().WriteAsync(hello.AsMemory(i, 1));
                }
                catch (IOException)
                {
                    break;
                }

                await Task.Delay(300);
            }

            await closed.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "the slow ClientHello was held open");
        }

        Assert.Equal(1, gateway.Metrics.ConnectionCount(SniRouter.Listener, "hello_timeout"));

        // T3: larger than the 32 KiB limit: refused before it all arrives.
        byte[] huge = [0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00, .. new byte[0x4000 - 4]];
        Assert.Equal(0, await SendAsync(gwIp, huge));
        Assert.Equal(1, gateway.Metrics.ConnectionCount(SniRouter.Listener, "hello_too_large"));

        // T1: many non-TLS connections are each closed and counted; valid traffic still routes afterwards.
        for (var i = 0; i < 500; i++)
        {
            Assert.Equal(0, await SendAsync(gwIp, "SSH-2.0-OpenSSH_9.6\r\n"u8.ToArray()));
        }

        Assert.Equal(500, gateway.Metrics.ConnectionCount(SniRouter.Listener, "not_tls"));
        using var after = new TcpClient();
        await after.ConnectAsync(gwIp, 15443);
        await after.GetStream().WriteAsync(hello);
        var answer = new byte[1];
        Assert.Equal(1, await after.GetStream().ReadAtLeastAsync(answer, 1).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded"));
    }

    [Fact]
    public async Task TenThousandIdleConnections_AreHeldThenClosedAtTheHelloTimeout_WhileCrossClusterTrafficGoesOn_AndTheCapHolds()
    {
        const int idle = 10_000, cap = 10_100, overCap = 10_400, lastRound = 5;
        await using var lab = new DataPlaneLab();
        var (c1, c2, _, _, sleepIp, gwIp) = await lab.StartCrossNetworkAsync();

        // Its own process, so that its descriptors and memory are its own.
        var gateway = await lab.StartGatewayProcessAsync(c2, gwIp, "--client-hello-timeout", "5s", "--max-connections", cap.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 1, "sleep sees v2 through the gateway");
        using var client = DataPlaneLab.ClientVia(sleepIp);
        var before = await TimedRequestsAsync(client, 200);
        var (fdsBefore, rssBefore) = (OpenDescriptors.Count(gateway.Id), RssKiB(gateway.Id));

        // Round 1: 10,000 idle connections are held (under the cap), requests and new handshakes go on, then the ClientHello timeout closes them all.
        await using (var flood = await IdleConnections.OpenAsync(gwIp, idle))
        {
            var fdsDuring = OpenDescriptors.Count(gateway.Id);
            var during = await TimedRequestsAsync(client, 200);
            var newHandshakes = 0;
            for (var i = 0; i < 50; i++)
            {
                using var fresh = new TcpClient();
                await fresh.ConnectAsync(gwIp, 15443);
                await fresh.GetStream().WriteAsync(Hello(Sni));
                var reply = new byte[1];
                newHandshakes += await fresh.GetStream().ReadAtLeastAsync(reply, 1).AsTask().WaitAsync(TimeSpan.FromSeconds(10)) == 1 && reply[0] == 0x16 ? 1 : 0;
            }

            var closedAfter = await flood.ClosedByServerAsync(TimeSpan.FromSeconds(30));
            output.WriteLine($"round 1: {idle} idle connections opened in {flood.OpenedIn.TotalMilliseconds:0} ms and all closed by the gateway {closedAfter.TotalSeconds:0.0} s after the first; descriptors {fdsBefore} -> {fdsDuring}");
            output.WriteLine($"cross-cluster requests: before {before.Ok}/200 ok p50 {before.P50:0.00} p99 {before.P99:0.00} ms; during {during.Ok}/200 ok p50 {during.P50:0.00} p99 {during.P99:0.00} ms; new handshakes during {newHandshakes}/50");
            Assert.Equal(200, during.Ok);
            Assert.Equal(50, newHandshakes);
        }

        // Held, not dropped: every connection was closed by the ClientHello timeout, none refused at the cap.
        await Task.Delay(300);
        Assert.Equal(idle, await CounterAsync(gwIp, "hello_timeout"));
        Assert.Equal(0, await CounterAsync(gwIp, "over_connection_limit"));
        var (fdsAfter1, rssAfter1) = (OpenDescriptors.Count(gateway.Id), RssKiB(gateway.Id));

        // Rounds 2 to 5, over the cap: what exceeds it is refused at accept and counted; memory does not grow round over round.
        var rss = new List<long> { rssAfter1 };
        for (var round = 2; round <= lastRound; round++)
        {
            await using (var flood = await IdleConnections.OpenAsync(gwIp, overCap))
            {
                await flood.ClosedByServerAsync(TimeSpan.FromSeconds(30));
            }

            await Task.Delay(300);
            rss.Add(RssKiB(gateway.Id));
        }

        var refused = await CounterAsync(gwIp, "over_connection_limit");
        var fdsAfter = OpenDescriptors.Count(gateway.Id);
        var after = await TimedRequestsAsync(client, 200);
        output.WriteLine($"rounds 2 to {lastRound}: {overCap} connections each against a cap of {cap}: {refused} refused at accept (over_connection_limit), {await CounterAsync(gwIp, "hello_timeout") - idle} closed at the hello timeout");
        output.WriteLine($"descriptors after round 1 {fdsAfter1}, after round {lastRound} {fdsAfter}; RSS {rssBefore / 1024} MiB before, after rounds 1-{lastRound}: {string.Join(", ", rss.Select(r => r / 1024))} MiB; requests after {after.Ok}/200");

        // Every connection of rounds 2 to 5 is accounted for: refused at the cap, or held until the ClientHello timeout.
        // (How many of each depends on how fast the first of a round time out while the rest are still being opened.)
        var timedOut = await CounterAsync(gwIp, "hello_timeout") - idle;
        Assert.True(refused > 0, "nothing was refused over the cap");
        Assert.Equal((lastRound - 1) * overCap, refused + timedOut);
        Assert.True(fdsAfter < fdsBefore + 100, $"the gateway kept {fdsAfter - fdsBefore} descriptors after every connection was closed");

        // A held connection costs about 7.5 KiB at peak, and the GC keeps the heap it grew, by an amount that depends on
        // when it last ran: +20 to +58 MiB in round 2 and +4 to +45 in round 3 were seen here with no leak, the heap
        // levelling off after that. So the last two rounds are judged: a leak of 5 KiB or more per connection would add
        // at least 100 MiB over them.
        var grown = rss[lastRound - 1] - rss[lastRound - 3];
        Assert.True(grown < 100 * 1024, $"RSS grew {grown / 1024} MiB over rounds {lastRound - 1} and {lastRound} (after rounds 1-{lastRound}: {string.Join(", ", rss.Select(r => r / 1024))} MiB): a leak per connection");
        Assert.Equal(200, after.Ok);
    }

    /// <summary>Many TCP connections that send nothing, each watched for the server closing it.</summary>
    private sealed class IdleConnections : IAsyncDisposable
    {
        private readonly List<TcpClient> _sockets = [];
        private readonly List<Task<int>> _closed = [];
        private long _started;

        public TimeSpan OpenedIn { get; private set; }

        public static async Task<IdleConnections> OpenAsync(IPAddress address, int count)
        {
            var result = new IdleConnections { _started = Stopwatch.GetTimestamp() };
            for (var opened = 0; opened < count; opened += 500)
            {
                var batch = Enumerable.Range(0, Math.Min(500, count - opened)).Select(_ => new TcpClient()).ToArray();
                result._sockets.AddRange(batch);
                await Task.WhenAll(batch.Select(t => t.ConnectAsync(address, 15443)));
                result._closed.AddRange(batch.Select(t => ReadToEndAsync(t.GetStream())));
            }

            result.OpenedIn = Stopwatch.GetElapsedTime(result._started);
            return result;
        }

        /// <summary>Waits until the server has closed every connection; returns how long after the first was opened.</summary>
        public async Task<TimeSpan> ClosedByServerAsync(TimeSpan timeout)
        {
            await Task.WhenAll(_closed).WaitAsync(timeout);
            return Stopwatch.GetElapsedTime(_started);
        }

        public ValueTask DisposeAsync()
        {
            foreach (var t in _sockets)
            {
                t.Dispose();
            }

            return ValueTask.CompletedTask;
        }
    }

    private sealed record Timings(int Ok, double P50, double P99);

    private static async Task<Timings> TimedRequestsAsync(HttpClient client, int count)
    {
        var ms = new List<double>(count);
        var ok = 0;
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync("http://helloworld.sample:5000/hello");
            ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            ok += response.IsSuccessStatusCode ? 1 : 0;
        }

        ms.Sort();
        return new Timings(ok, ms[count / 2], ms[(int)(count * 0.99)]);
    }

    private static long RssKiB(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<long> CounterAsync(IPAddress gateway, string outcome)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://{gateway}:15000/stats/prometheus");
        var prefix = $"causeway_connections_total{{listener=\"{SniRouter.Listener}\",outcome=\"{outcome}\"}} ";
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[prefix.Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<int> SendAsync(IPAddress address, byte[] bytes)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address, 15443);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(bytes);
        }
        catch (IOException)
        {
            return 0;
        }

        return await ReadToEndAsync(stream).WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task<int> ReadToEndAsync(Stream stream)
    {
        var total = 0;
        var buffer = new byte[1024];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                total += n;
            }
        }
        catch (IOException)
        {
        }

        return total;
    }

    private static byte[] Hello(string sni) => ClientHellos.Capture(sni);
}
