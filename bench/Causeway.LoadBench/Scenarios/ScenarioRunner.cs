using Causeway.LoadBench.Load;
using Causeway.LoadBench.Measure;
using Causeway.LoadBench.Peers;

namespace Causeway.LoadBench.Scenarios;

/// <summary>
/// Runs the scenarios over a testbed. Peers take turns within each run (direct first), so that drift of the
/// machine touches every peer alike; "added" latency is a peer's percentile minus direct's in the same run.
/// </summary>
public sealed class ScenarioRunner(Testbed testbed, BenchSettings settings, TextWriter log)
{
    public List<Measurement> Results { get; } = [];

    /// <summary>The open-loop generator's mean against h2load's, direct to the backend at low load, in ms.</summary>
    public (double OpenLoop, double H2load)? CrossCheck { get; private set; }

    public async Task RunAsync()
    {
        if (settings.Scenarios.Contains("B2") || settings.Scenarios.Contains("B3"))
        {
            await CrossCheckAsync();
            await FixedRateAsync();
        }

        if (settings.Scenarios.Contains("B1"))
        {
            await SaturationAsync();
        }

        if (settings.Scenarios.Contains("B4"))
        {
            await Http2Async();
        }

        if (settings.Scenarios.Contains("B5"))
        {
            await HandshakesAsync();
        }

        if (settings.Scenarios.Contains("B6"))
        {
            await PassthroughAsync();
        }
    }

    /// <summary>
    /// B4: h2load at a fixed connection and stream count through each HTTP/2 pair, plain requests and then gRPC unary
    /// calls; requests/s and the pair's CPU.
    /// </summary>
    private async Task Http2Async()
    {
        if (Testbed.Installed("h2load") is null)
        {
            log.WriteLine("B4 skipped: h2load is not installed (bench/run installs nghttp2-client)");
            return;
        }

        await SaturateAsync("B4", Measured(testbed.H2Pair.Values), (peer, seconds) =>
            ExternalLoad.H2loadSaturationAsync(settings.LoadCpus, $"http://{peer.Entry}/", Testbed.H2Host, settings.H2Connections, settings.H2Streams, seconds, log: log));

        // gRPC: the same pairs, each request a unary call. Before every measured run one call is checked as a gRPC
        // client would (h2load sees HTTP statuses only); a failed check counts as an error of that run.
        await SaturateAsync("B4 gRPC", Measured(testbed.H2Pair.Values), async (peer, seconds) =>
        {
            var refused = await GrpcUnary.CheckAsync(peer.Entry, Testbed.H2Host, testbed.GrpcRequest, testbed.GrpcResponse, TimeSpan.FromSeconds(10));
            if (refused is not null)
            {
                log.WriteLine($"B4 gRPC {peer.Name}: the checked call failed: {refused}");
            }

            var (rps, requests, errors) = await ExternalLoad.H2loadSaturationAsync(settings.LoadCpus, $"http://{peer.Entry}{GrpcUnary.Path}", Testbed.H2Host, settings.H2Connections, settings.H2Streams, seconds, testbed.GrpcRequestFile, GrpcUnary.RequestHeaders, log);
            return (rps, requests, errors + (refused is null ? 0 : 1));
        });
    }

    /// <summary>B5: new mTLS connections per second at the destination side of each pair, one request each, with its CPU.</summary>
    private async Task HandshakesAsync()
    {
        var duration = TimeSpan.FromSeconds(settings.Seconds);
        for (var run = 0; run <= settings.Runs; run++)
        {
            foreach (var peer in Measured(testbed.ServerSide.Values))
            {
                var load = new HandshakeLoad(peer.Entry, Testbed.MeshSni, testbed.ClientCertificate!, testbed.MeshRoot!, Testbed.PairHost);
                if (run == 0)
                {
                    await load.RunAsync(settings.HandshakeConcurrency, TimeSpan.FromSeconds(settings.FirstWarmupSeconds));
                    continue;
                }

                var pids = ProcessUsage.WithDescendants(peer.ProxyPids);
                var cpu = ProcessUsage.CpuSeconds(pids);
                var (completed, errors) = await load.RunAsync(settings.HandshakeConcurrency, duration);
                var m = new Measurement("B5", peer.Name, run)
                {
                    Requests = completed,
                    RequestsPerSecond = completed / duration.TotalSeconds,
                    Errors = errors,
                    ProxyCpuSeconds = ProcessUsage.CpuSeconds(pids) - cpu,
                    Seconds = duration.TotalSeconds,
                    Proxies = peer.ProxyPids.Count,
                };
                Results.Add(m);
                log.WriteLine($"B5 run {run} {peer.Name,-9} {m.RequestsPerSecond:F0} new mTLS connections/s over {settings.HandshakeConcurrency} loops, {errors} errors, proxy CPU {m.ProxyCpuSeconds:F2} s, {m.ProxyCpuSeconds / Math.Max(1, completed) * 1e6:F0} µs per connection{(errors > 0 ? "; last error: " + load.LastError : "")}");
            }

            if (Measured(testbed.Pair.Values).FirstOrDefault(p => p.Name == "causeway") is { } pair)
            {
                await CallingSideAsync(pair, run, duration);
            }
        }
    }

    /// <summary>
    /// B5's calling side, Causeway's alone (no peer runs it): new mesh mTLS connections per second that the source
    /// sidecar opens as a TLS client, one per CONNECT tunnel, with the CPU of the source sidecar and of the pair (the two
    /// share a core, so either one's cost slows both).
    /// </summary>
    private async Task CallingSideAsync(Peer pair, int run, TimeSpan duration)
    {
        var load = new TunnelLoad(pair.Entry, Testbed.PairHost);
        if (run == 0)
        {
            await load.RunAsync(settings.HandshakeConcurrency, TimeSpan.FromSeconds(settings.FirstWarmupSeconds));
            return;
        }

        // The pair's first process is the source sidecar.
        var source = ProcessUsage.WithDescendants([pair.ProxyPids[0]]);
        var both = ProcessUsage.WithDescendants(pair.ProxyPids);
        var (sourceCpu, pairCpu) = (ProcessUsage.CpuSeconds(source), ProcessUsage.CpuSeconds(both));
        var (completed, errors) = await load.RunAsync(settings.HandshakeConcurrency, duration);
        (sourceCpu, pairCpu) = (ProcessUsage.CpuSeconds(source) - sourceCpu, ProcessUsage.CpuSeconds(both) - pairCpu);
        foreach (var (scenario, cpu, proxies) in new[] { ("B5-calling", sourceCpu, 1), ("B5-calling-pair", pairCpu, pair.ProxyPids.Count) })
        {
            Results.Add(new Measurement(scenario, pair.Name, run)
            {
                Requests = completed,
                RequestsPerSecond = completed / duration.TotalSeconds,
                Errors = errors,
                ProxyCpuSeconds = cpu,
                Seconds = duration.TotalSeconds,
                Proxies = proxies,
            });
        }

        log.WriteLine($"B5 run {run} causeway calling side {completed / duration.TotalSeconds:F0} new mesh connections/s from the source sidecar over {settings.HandshakeConcurrency} CONNECT loops, {errors} errors, its CPU {sourceCpu:F2} s, {sourceCpu / Math.Max(1, completed) * 1e6:F0} µs per connection; the pair's {pairCpu:F2} s, {pairCpu / Math.Max(1, completed) * 1e6:F0} µs per connection{(errors > 0 ? "; last error: " + load.LastError : "")}");
    }

    /// <summary>
    /// B6: through each SNI passthrough proxy, bytes/s over a fixed number of streams, then new connections/s over a
    /// fixed number of loops; both with the proxy's CPU seconds.
    /// </summary>
    private async Task PassthroughAsync()
    {
        var peers = Measured(testbed.Passthrough.Values).ToList();
        var duration = TimeSpan.FromSeconds(settings.Seconds);
        var warmup = TimeSpan.FromSeconds(settings.WarmupSeconds);
        for (var run = 0; run <= settings.Runs; run++)
        {
            foreach (var peer in peers)
            {
                var load = new PassthroughLoad(peer.Entry, testbed.MeshClientHello);
                var pids = ProcessUsage.WithDescendants(peer.ProxyPids);
                await using (var streams = await load.StartStreamsAsync(settings.PassthroughStreams))
                {
                    await Task.Delay(warmup);
                    var (bytes, cpu) = (streams.Bytes, ProcessUsage.CpuSeconds(pids));
                    await Task.Delay(duration);
                    var m = new Measurement("B6-stream", peer.Name, run)
                    {
                        Bytes = streams.Bytes - bytes,
                        ProxyCpuSeconds = ProcessUsage.CpuSeconds(pids) - cpu,
                        Seconds = duration.TotalSeconds,
                        Errors = streams.Failures,
                        Proxies = peer.ProxyPids.Count,
                    };
                    if (run > 0)
                    {
                        Results.Add(m);
                        log.WriteLine($"B6 run {run} {peer.Name,-14} {m.Gbits:F2} Gbit/s over {settings.PassthroughStreams} streams, proxy CPU {m.ProxyCpuSeconds:F2} s, {m.BytesPerCpuSecond * 8 / 1e9:F2} Gbit per CPU-second, {m.Errors} streams ended early");
                    }
                }

                await load.ConnectionsAsync(settings.PassthroughConcurrency, warmup);
                var before = ProcessUsage.CpuSeconds(pids);
                var (completed, errors) = await load.ConnectionsAsync(settings.PassthroughConcurrency, duration);
                var c = new Measurement("B6-connect", peer.Name, run)
                {
                    Requests = completed,
                    RequestsPerSecond = completed / duration.TotalSeconds,
                    Errors = errors,
                    ProxyCpuSeconds = ProcessUsage.CpuSeconds(pids) - before,
                    Seconds = duration.TotalSeconds,
                    Proxies = peer.ProxyPids.Count,
                };
                if (run > 0)
                {
                    Results.Add(c);
                    log.WriteLine($"B6 run {run} {peer.Name,-14} {c.RequestsPerSecond:F0} new connections/s over {settings.PassthroughConcurrency} loops, {errors} errors, proxy CPU {c.ProxyCpuSeconds:F2} s, {c.RequestsPerCpuSecond:F0} per CPU-second");
                }
            }
        }
    }

    /// <summary>B2 and B3: open-loop load at a fixed rate through each pair; latency, proxy CPU and memory.</summary>
    private async Task FixedRateAsync()
    {
        var peers = Measured([testbed.Direct, .. testbed.Pair.Values]).ToList();
        var warmup = TimeSpan.FromSeconds(settings.WarmupSeconds);
        var duration = TimeSpan.FromSeconds(settings.Seconds);
        for (var run = 0; run <= settings.Runs; run++)
        {
            foreach (var peer in peers)
            {
                var load = new OpenLoopLoad(peer.Entry, peer.Authority ?? Testbed.PairHost);
                await load.RunAsync(settings.Rate, settings.Connections, TimeSpan.Zero, run == 0 ? TimeSpan.FromSeconds(settings.FirstWarmupSeconds) : warmup);
                if (run == 0)
                {
                    continue;
                }

                var pids = ProcessUsage.WithDescendants(peer.ProxyPids);
                var cpu = ProcessUsage.CpuSeconds(pids);
                var result = await load.RunAsync(settings.Rate, settings.Connections, TimeSpan.Zero, duration);
                var used = ProcessUsage.CpuSeconds(pids) - cpu;
                var perProxy = peer.ProxyPids.Select(p => ProcessUsage.WithDescendants([p])).ToList();
                var m = new Measurement("B2", peer.Name, run)
                {
                    RequestsPerSecond = result.Completed / duration.TotalSeconds,
                    Requests = result.Completed,
                    Errors = result.Errors,
                    P50 = result.Percentile(50),
                    P90 = result.Percentile(90),
                    P99 = result.Percentile(99),
                    Mean = result.MeanMilliseconds,
                    ProxyCpuSeconds = used,
                    Seconds = duration.TotalSeconds,
                    Proxies = peer.ProxyPids.Count,
                    RssMiBPerProxy = perProxy.Count == 0 ? double.NaN : perProxy.Average(ProcessUsage.RssMiB),
                    PssMiBPerProxy = perProxy.Count == 0 ? double.NaN : perProxy.Average(ProcessUsage.PssMiB),
                };
                Results.Add(m);
                log.WriteLine($"B2/B3 run {run} {peer.Name,-9} p50 {m.P50:F3} p90 {m.P90:F3} p99 {m.P99:F3} ms, {m.Requests} ok, {m.Errors} errors, proxy CPU {m.ProxyCpuSeconds:F2} s, RSS {m.RssMiBPerProxy:F1} MiB/proxy");
            }
        }
    }

    /// <summary>B1: wrk at a fixed connection count through each single proxy; requests/s and requests per proxy CPU-second.</summary>
    private async Task SaturationAsync()
    {
        if (Testbed.Installed("wrk") is null)
        {
            log.WriteLine("B1 skipped: wrk is not installed (bench/run installs it)");
            return;
        }

        await SaturateAsync("B1", Measured([testbed.Direct, .. testbed.Single.Values]), (peer, seconds) =>
            ExternalLoad.WrkAsync(settings.LoadCpus, $"http://{peer.Entry}/", Testbed.SingleHost, settings.SaturationConnections, seconds));
    }

    /// <summary>
    /// A closed-loop tool at saturation through each peer: once unrecorded to warm up (<see cref="BenchSettings.FirstWarmupSeconds"/>), then in every run with the CPU
    /// seconds of the peer's proxies.
    /// </summary>
    private async Task SaturateAsync(string scenario, IEnumerable<Peer> peers, Func<Peer, double, Task<(double RequestsPerSecond, long Requests, long Errors)>> load)
    {
        for (var run = 0; run <= settings.Runs; run++)
        {
            foreach (var peer in peers)
            {
                if (run == 0)
                {
                    await load(peer, settings.FirstWarmupSeconds);
                    continue;
                }

                var pids = ProcessUsage.WithDescendants(peer.ProxyPids);
                var cpu = ProcessUsage.CpuSeconds(pids);
                var (rps, requests, errors) = await load(peer, settings.Seconds);
                var m = new Measurement(scenario, peer.Name, run)
                {
                    RequestsPerSecond = rps,
                    Requests = requests,
                    Errors = errors,
                    ProxyCpuSeconds = ProcessUsage.CpuSeconds(pids) - cpu,
                    Seconds = requests / rps,
                    Proxies = peer.ProxyPids.Count,
                };
                Results.Add(m);
                log.WriteLine($"{scenario} run {run} {peer.Name,-9} {rps:F0} req/s, {errors} errors, proxy CPU {m.ProxyCpuSeconds:F2} s, {m.RequestsPerCpuSecond:F0} req per CPU-second");
            }
        }
    }

    /// <summary>The peers <see cref="BenchSettings.Peers"/> names, and the no-proxy baseline, which every figure is relative to.</summary>
    private IEnumerable<Peer> Measured(IEnumerable<Peer> peers) =>
        settings.Peers is null ? peers : peers.Where(p => p.Name == "direct" || settings.Peers.Contains(p.Name));

    private async Task CrossCheckAsync()
    {
        if (Testbed.Installed("h2load") is null)
        {
            log.WriteLine("cross-check skipped: h2load is not installed (bench/run installs nghttp2-client)");
            return;
        }

        // At a low rate on one connection nothing queues, so an open loop and a closed loop must agree.
        var requests = (int)Math.Max(200, 200 * settings.Seconds);
        var h2load = await ExternalLoad.H2loadMeanAsync(settings.LoadCpus, $"http://{testbed.Direct.Entry}/", requests);
        var open = await new OpenLoopLoad(testbed.Direct.Entry, Testbed.PairHost).RunAsync(200, 1, TimeSpan.FromSeconds(settings.WarmupSeconds), TimeSpan.FromSeconds(settings.Seconds));
        CrossCheck = (open.MeanMilliseconds, h2load);
        log.WriteLine($"cross-check direct at low load: open-loop mean {open.MeanMilliseconds:F3} ms, h2load mean {h2load:F3} ms; scheduler woke late by p50 {open.SchedulerLag.GetValueAtPercentile(50) / 1e6:F3} p99 {open.SchedulerLag.GetValueAtPercentile(99) / 1e6:F3} ms");
    }
}
