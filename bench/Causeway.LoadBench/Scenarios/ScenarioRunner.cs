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
    }

    /// <summary>B2 and B3: open-loop load at a fixed rate through each pair; latency, proxy CPU and memory.</summary>
    private async Task FixedRateAsync()
    {
        var peers = new[] { testbed.Direct }.Concat(testbed.Pair.Values).ToList();
        var warmup = TimeSpan.FromSeconds(settings.WarmupSeconds);
        var duration = TimeSpan.FromSeconds(settings.Seconds);
        for (var run = 0; run <= settings.Runs; run++)
        {
            foreach (var peer in peers)
            {
                var load = new OpenLoopLoad(peer.Entry, Testbed.PairHost);
                // The first warm-up is long: a .NET proxy compiles its hot paths again, optimised, only after they have run a while.
                await load.RunAsync(settings.Rate, settings.Connections, TimeSpan.Zero, run == 0 ? warmup * 5 : warmup);
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

        var peers = new[] { testbed.Direct }.Concat(testbed.Single.Values).ToList();
        for (var run = 0; run <= settings.Runs; run++)
        {
            foreach (var peer in peers)
            {
                var url = $"http://{peer.Entry}/";
                if (run == 0)
                {
                    await ExternalLoad.WrkAsync(settings.LoadCpus, url, Testbed.SingleHost, settings.SaturationConnections, settings.WarmupSeconds);
                    continue;
                }

                var pids = ProcessUsage.WithDescendants(peer.ProxyPids);
                var cpu = ProcessUsage.CpuSeconds(pids);
                var (rps, requests, errors) = await ExternalLoad.WrkAsync(settings.LoadCpus, url, Testbed.SingleHost, settings.SaturationConnections, settings.Seconds);
                var m = new Measurement("B1", peer.Name, run)
                {
                    RequestsPerSecond = rps,
                    Requests = requests,
                    Errors = errors,
                    ProxyCpuSeconds = ProcessUsage.CpuSeconds(pids) - cpu,
                    Seconds = requests / rps,
                    Proxies = peer.ProxyPids.Count,
                };
                Results.Add(m);
                log.WriteLine($"B1 run {run} {peer.Name,-9} {rps:F0} req/s, {errors} errors, proxy CPU {m.ProxyCpuSeconds:F2} s, {m.RequestsPerCpuSecond:F0} req per CPU-second");
            }
        }
    }

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
