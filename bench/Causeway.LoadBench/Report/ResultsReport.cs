using System.Globalization;
using System.Text;
using Causeway.LoadBench.Measure;

namespace Causeway.LoadBench.Report;

/// <summary>
/// The Markdown tables of a run (B1-B7), each figure with its target and whether it was met, and the plots. Figures
/// are medians over runs with the min-max spread in brackets; "added" latency is computed per run against direct.
/// </summary>
public sealed class ResultsReport(IReadOnlyList<Measurement> results, BenchSettings settings, (double OpenLoop, double H2load)? crossCheck, IReadOnlyDictionary<string, string> missing, IReadOnlyList<double>? convergence = null, Scenarios.ControlPlaneScaleRun.Result? scale = null)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Peers in report order.</summary>
    public static readonly string[] Order = ["direct", "causeway", "causeway-h2", "haproxy", "haproxy-splice", "nginx"];

    public string ToMarkdown(string machine)
    {
        var md = new StringBuilder();
        md.AppendLine(results.Count > 0
            ? string.Create(Inv, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {machine}; {settings.Runs} runs of {settings.Seconds:0.#} s per peer after warm-up; proxies on CPU {settings.ProxyCpus}, load and backend on CPU {settings.LoadCpus}; {settings.BodyBytes} B responses.")
            : string.Create(Inv, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {machine}."));
        md.AppendLine();
        foreach (var (peer, why) in missing)
        {
            md.AppendLine(Inv, $"- {peer}: not run, {why}.");
        }

        if (crossCheck is { } c)
        {
            md.AppendLine(Inv, $"Method check, direct to the backend at low load: the open-loop generator's mean {c.OpenLoop:F3} ms, h2load's {c.H2load:F3} ms.");
            md.AppendLine();
        }

        AppendLatency(md);
        AppendCost(md);
        AppendSaturation(md);
        AppendHttp2(md);
        AppendHandshakes(md);
        AppendCallingSide(md);
        AppendPassthrough(md);
        AppendConvergence(md);
        AppendScale(md);
        return md.ToString();
    }

    /// <summary>Added latency per run: the peer's percentile minus direct's in the same run.</summary>
    public Spread Added(string peer, Func<Measurement, double> percentile) =>
        Spread.Of(Of("B2", peer).Select(m => percentile(m) - (Of("B2", "direct").FirstOrDefault(d => d.Run == m.Run) is { } d ? percentile(d) : double.NaN)));

    public IEnumerable<Measurement> Of(string scenario, string peer) => results.Where(m => m.Scenario == scenario && m.Peer == peer);

    public IEnumerable<string> Peers(string scenario) => Order.Where(p => results.Any(m => m.Scenario == scenario && m.Peer == p));

    private void AppendLatency(StringBuilder md)
    {
        if (!Peers("B2").Any())
        {
            return;
        }

        md.AppendLine(Inv, $"### B2: latency through the pair at {settings.Rate:N0} req/s ({settings.Connections} connections, open loop)");
        md.AppendLine();
        md.AppendLine("| peer | p50 ms | p90 ms | p99 ms | added p90 ms | added p99 ms | errors | target: added p90 ≤ 0.23, p99 ≤ 0.30, ≤ HAProxy |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        var haproxy = (P90: Added("haproxy", m => m.P90).Median, P99: Added("haproxy", m => m.P99).Median);
        foreach (var peer in Peers("B2"))
        {
            var runs = Of("B2", peer).ToList();
            var (a90, a99) = (Added(peer, m => m.P90), Added(peer, m => m.P99));
            var verdict = peer switch
            {
                "direct" => "baseline",
                "causeway" or "causeway-h2" => Verdict(a90.Median <= 0.23 && a99.Median <= 0.30 && !(a90.Median > haproxy.P90) && !(a99.Median > haproxy.P99)),
                _ => "peer",
            };
            md.AppendLine(Inv, $"| {peer} | {Spread.Of(runs.Select(m => m.P50)).Format("F3")} | {Spread.Of(runs.Select(m => m.P90)).Format("F3")} | {Spread.Of(runs.Select(m => m.P99)).Format("F3")} | {(peer == "direct" ? "—" : a90.Format("F3"))} | {(peer == "direct" ? "—" : a99.Format("F3"))} | {runs.Sum(m => m.Errors)} | {verdict} |");
        }

        md.AppendLine();
    }

    private void AppendCost(StringBuilder md)
    {
        if (!Peers("B2").Any(p => p != "direct"))
        {
            return;
        }

        md.AppendLine(Inv, $"### B3: cost per proxy at {settings.Rate:N0} req/s (each pair has two proxies; figures are per proxy)");
        md.AppendLine();
        md.AppendLine("| peer | vCPU per 1,000 req/s | RSS MiB | PSS MiB | target: ≤ 0.06 vCPU, RSS ≤ 40 MB |");
        md.AppendLine("|---|---:|---:|---:|---|");
        foreach (var peer in Peers("B2").Where(p => p != "direct"))
        {
            var runs = Of("B2", peer).ToList();
            var (cpu, rss, pss) = (Spread.Of(runs.Select(m => m.VcpuPerThousandPerProxy)), Spread.Of(runs.Select(m => m.RssMiBPerProxy)), Spread.Of(runs.Select(m => m.PssMiBPerProxy)));
            var verdict = peer is "causeway" or "causeway-h2" ? Verdict(cpu.Median <= 0.06 && rss.Median * 1.048576 <= 40) : "peer";
            md.AppendLine(Inv, $"| {peer} | {cpu.Format("F3")} | {rss.Format("F1")} | {pss.Format("F1")} | {verdict} |");
        }

        md.AppendLine();
    }

    private void AppendSaturation(StringBuilder md)
    {
        if (!Peers("B1").Any())
        {
            return;
        }

        md.AppendLine(Inv, $"### B1: HTTP/1.1 keep-alive through one proxy, saturation (wrk, {settings.SaturationConnections} connections)");
        md.AppendLine();
        md.AppendLine("| peer | req/s | proxy CPU (cores) | req/s per proxy core | × HAProxy per core | errors | target: ≥ 1.0× HAProxy per core |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---|");
        var haproxy = Spread.Of(Of("B1", "haproxy").Select(m => m.RequestsPerCpuSecond)).Median;
        foreach (var peer in Peers("B1"))
        {
            var runs = Of("B1", peer).ToList();
            var perCore = Spread.Of(runs.Select(m => m.RequestsPerCpuSecond));
            var ratio = perCore.Median / haproxy;
            var verdict = peer switch
            {
                "direct" => "ceiling of load generator and backend",
                "causeway" => double.IsNaN(ratio) ? "no HAProxy figure" : Verdict(ratio >= 1.0),
                _ => "peer",
            };
            md.AppendLine(Inv, $"| {peer} | {Spread.Of(runs.Select(m => m.RequestsPerSecond)).Format("N0")} | {Spread.Of(runs.Select(m => m.ProxyCpuSeconds / m.Seconds)).Format("F2")} | {perCore.Format("N0")} | {(peer == "direct" || double.IsNaN(ratio) ? "—" : ratio.ToString("F2", Inv))} | {runs.Sum(m => m.Errors)} | {verdict} |");
        }

        md.AppendLine();
    }

    private void AppendHttp2(StringBuilder md)
    {
        AppendHttp2(md, "B4", $"### B4: HTTP/2 end to end through the pair (h2load, {settings.H2Connections} connections × {settings.H2Streams} streams; nginx via grpc_pass)");
        AppendHttp2(md, "B4 gRPC", $"### B4, gRPC: unary calls through the same pairs (h2load, the same connections and streams; a {settings.BodyBytes} B message each way, `grpc-status` in the trailers, one call per run checked as a gRPC client checks it)");
    }

    private void AppendHttp2(StringBuilder md, string scenario, string title)
    {
        if (!Peers(scenario).Any())
        {
            return;
        }

        md.AppendLine(title);
        md.AppendLine();
        md.AppendLine("| peer | req/s | pair CPU (cores) | req/s per pair core | errors | target: ≥ the better peer's req/s |");
        md.AppendLine("|---|---:|---:|---:|---:|---|");
        var others = Peers(scenario).Where(p => p is not ("causeway" or "direct")).ToList();
        var best = others.Count == 0 ? double.NaN : others.Max(p => Spread.Of(Of(scenario, p).Select(m => m.RequestsPerSecond)).Median);
        foreach (var peer in Peers(scenario))
        {
            var runs = Of(scenario, peer).ToList();
            var rate = Spread.Of(runs.Select(m => m.RequestsPerSecond));
            var verdict = peer switch
            {
                "direct" => "ceiling of h2load and the backend",
                "causeway" when double.IsNaN(best) => "no peer figure",
                "causeway" => $"{Verdict(rate.Median >= best)}: {rate.Median / best:F2}×",
                _ => "peer",
            };
            var none = peer == "direct" ? "—" : null;
            md.AppendLine(Inv, $"| {peer} | {rate.Format("N0")} | {none ?? Spread.Of(runs.Select(m => m.ProxyCpuSeconds / m.Seconds)).Format("F2")} | {none ?? Spread.Of(runs.Select(m => m.RequestsPerCpuSecond)).Format("N0")} | {runs.Sum(m => m.Errors)} | {verdict} |");
        }

        md.AppendLine();
    }

    private void AppendHandshakes(StringBuilder md)
    {
        if (!Peers("B5").Any())
        {
            return;
        }

        md.AppendLine(Inv, $"### B5: new mTLS connections at the destination side of each pair ({settings.HandshakeConcurrency} loops; each a full TLS 1.3 handshake with the mesh client certificate and one request)");
        md.AppendLine();
        md.AppendLine("| peer | connections/s | proxy CPU (cores) | per proxy core | CPU µs per connection | errors | target: ≥ the better peer; CPU per connection ≤ 1.5× the OpenSSL peers' |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---|");
        var others = Peers("B5").Where(p => p != "causeway").ToList();
        var best = others.Count == 0 ? double.NaN : others.Max(p => Spread.Of(Of("B5", p).Select(m => m.RequestsPerSecond)).Median);
        var cheapest = others.Count == 0 ? double.NaN : others.Min(p => Spread.Of(Of("B5", p).Select(CpuMicrosPerRequest)).Median);
        foreach (var peer in Peers("B5"))
        {
            var runs = Of("B5", peer).ToList();
            var (rate, cpu) = (Spread.Of(runs.Select(m => m.RequestsPerSecond)), Spread.Of(runs.Select(CpuMicrosPerRequest)));
            var verdict = peer switch
            {
                "causeway" when double.IsNaN(best) => "no peer figure",
                "causeway" => $"{Verdict(rate.Median >= best && cpu.Median <= 1.5 * cheapest)}: {rate.Median / best:F2}× the better peer's rate, {cpu.Median / cheapest:F2}× the cheaper peer's CPU",
                _ => "peer",
            };
            md.AppendLine(Inv, $"| {peer} | {rate.Format("N0")} | {Spread.Of(runs.Select(m => m.ProxyCpuSeconds / m.Seconds)).Format("F2")} | {Spread.Of(runs.Select(m => m.RequestsPerCpuSecond)).Format("N0")} | {cpu.Format("F0")} | {runs.Sum(m => m.Errors)} | {verdict} |");
        }

        md.AppendLine();
    }

    private void AppendCallingSide(StringBuilder md)
    {
        var source = Of("B5-calling", "causeway").ToList();
        var pair = Of("B5-calling-pair", "causeway").ToList();
        if (source.Count == 0)
        {
            return;
        }

        md.AppendLine(Inv, $"### B5, calling side: new mesh mTLS connections Causeway's source sidecar opens ({settings.HandshakeConcurrency} loops, each an HTTP CONNECT tunnel over a new mesh connection with one request; the two sidecars share a core; no peer runs it, no target)");
        md.AppendLine();
        md.AppendLine("| peer | connections/s | source sidecar: CPU (cores); µs per connection | the pair: CPU (cores); µs per connection | errors |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        md.AppendLine(Inv, $"| causeway | {Spread.Of(source.Select(m => m.RequestsPerSecond)).Format("N0")} | {Spread.Of(source.Select(m => m.ProxyCpuSeconds / m.Seconds)).Format("F2")}; {Spread.Of(source.Select(CpuMicrosPerRequest)).Format("F0")} | {Spread.Of(pair.Select(m => m.ProxyCpuSeconds / m.Seconds)).Format("F2")}; {Spread.Of(pair.Select(CpuMicrosPerRequest)).Format("F0")} | {source.Sum(m => m.Errors)} |");
        md.AppendLine();
    }

    private static double CpuMicrosPerRequest(Measurement m) => m.Requests > 0 ? m.ProxyCpuSeconds / m.Requests * 1e6 : double.NaN;

    private void AppendPassthrough(StringBuilder md)
    {
        if (!Peers("B6-stream").Any())
        {
            return;
        }

        md.AppendLine(Inv, $"### B6: the east-west gateway, SNI passthrough ({settings.PassthroughStreams} streams for bytes/s; {settings.PassthroughConcurrency} loops opening connections for connections/s)");
        md.AppendLine();
        md.AppendLine("| peer | Gbit/s | proxy CPU (cores) | Gbit/s per proxy core | new connections/s | per proxy core | errors | target: ≥ 0.9× HAProxy with splice (bytes/s, and per core) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        var splice = Spread.Of(Of("B6-stream", "haproxy-splice").Select(m => m.Gbits)).Median;
        var splicePerCore = Spread.Of(Of("B6-stream", "haproxy-splice").Select(m => m.BytesPerCpuSecond)).Median;
        foreach (var peer in Peers("B6-stream"))
        {
            var streams = Of("B6-stream", peer).ToList();
            var connects = Of("B6-connect", peer).ToList();
            var (gbits, perCore) = (Spread.Of(streams.Select(m => m.Gbits)), Spread.Of(streams.Select(m => m.BytesPerCpuSecond * 8 / 1e9)));
            var verdict = peer switch
            {
                "direct" => "ceiling of the load and backend",
                "causeway" when double.IsNaN(splice) => "no HAProxy figure",
                "causeway" => $"{Verdict(gbits.Median >= 0.9 * splice && perCore.Median * 1e9 / 8 >= 0.9 * splicePerCore)}: {gbits.Median / splice:F2}× bytes/s, {perCore.Median * 1e9 / 8 / splicePerCore:F2}× per core",
                _ => "peer",
            };
            var none = peer == "direct" ? "—" : null;
            md.AppendLine(Inv, $"| {peer} | {gbits.Format("F2")} | {none ?? Spread.Of(streams.Select(m => m.ProxyCpuSeconds / m.Seconds)).Format("F2")} | {none ?? perCore.Format("F2")} | {Spread.Of(connects.Select(m => m.RequestsPerSecond)).Format("N0")} | {none ?? Spread.Of(connects.Select(m => m.RequestsPerCpuSecond)).Format("N0")} | {streams.Sum(m => m.Errors) + connects.Sum(m => m.Errors)} | {verdict} |");
        }

        md.AppendLine();
    }

    private void AppendConvergence(StringBuilder md)
    {
        if (convergence is not { Count: > 0 } times)
        {
            return;
        }

        md.AppendLine(Inv, $"### B7: cross-cluster convergence, {times.Count} changes (an endpoint added in cluster 2, until cluster 1's sidecar serves it)");
        md.AppendLine();
        md.AppendLine("| p50 ms | p90 ms | p99 ms | max ms | target: p99 ≤ 150 ms (published: Istio debounces 100 ms) |");
        md.AppendLine("|---:|---:|---:|---:|---|");
        var p99 = Scenarios.ConvergenceRun.Percentile(times, 99);
        md.AppendLine(Inv, $"| {Scenarios.ConvergenceRun.Percentile(times, 50):F1} | {Scenarios.ConvergenceRun.Percentile(times, 90):F1} | {p99:F1} | {times.Max():F1} | {Verdict(p99 <= 150)} |");
        md.AppendLine();
    }

    private void AppendScale(StringBuilder md)
    {
        if (scale is not { } s)
        {
            return;
        }

        md.AppendLine(Inv, $"### B8: control-plane scale, {s.Services:N0} services and {s.Endpoints:N0} endpoints over 2 clusters, {s.Clients:N0} simulated sidecars of cluster 1 ({s.ConfigBytes / 1e6:F2} MB of configuration each, {s.WireBytes / 1e6:F2} MB on the wire{settings.ScaleCompression switch { "br" => " compressed with Brotli", "gzip" => " compressed with gzip", _ => "" }})");
        md.AppendLine();
        md.AppendLine("| figure | value | target (published: Consul pushed to 172k instances in < 1 s; Kong Mesh ~1 MB per data plane) | |");
        md.AppendLine("|---|---:|---|---|");
        var push = Spread.Of(s.PushSeconds);
        md.AppendLine(Inv, $"| first push to every client, all connecting at once ({s.Clients * s.WireBytes / 1e9:F2} GB on the wire; connect to last configuration) | {s.InitialPushSeconds:F2} s (control-plane CPU {s.InitialPushCpuSeconds:F1} s; the clients' process, every simulated sidecar on one CPU, {s.InitialPushClientsCpuSeconds:F1} s) | ≤ 1 s | {Verdict(s.InitialPushSeconds <= 1)} |");
        var tls = s.HandshakesAlone;
        md.AppendLine(Inv, $"| for comparison, the first push's TLS handshakes alone: {tls.Count:N0} at once to the same port with the clients' TLS options, no HTTP/2 or gRPC | {tls.Seconds:F2} s (control-plane CPU {tls.ControlPlaneCpuSeconds:F1} s; the clients' process {tls.ClientsCpuSeconds:F1} s) | | |");
        var again = s.Reconnect;
        md.AppendLine(Inv, $"| for comparison, the same clients reconnecting at once to the running control plane, until each has its configuration | {again.Seconds:F2} s (control-plane CPU {again.ControlPlaneCpuSeconds:F1} s; the clients' process {again.ClientsCpuSeconds:F1} s) | | |");
        md.AppendLine(Inv, $"| push after a change in cluster 2 (a new endpoint), until every client has it ({s.PushSeconds.Count} changes) | {push.Format("F2")} s | ≤ 1 s | {Verdict(push.Max <= 1)} |");
        md.AppendLine(Inv, $"| control-plane CPU per push | {Spread.Of(s.PushCpuSeconds).Format("F2")} s | | |");
        var local = Spread.Of(s.LocalPushSeconds);
        md.AppendLine(Inv, $"| push after a change in cluster 1 itself (a new endpoint), until every client has it ({s.LocalPushSeconds.Count} changes) | {local.Format("F2")} s | ≤ 1 s | {Verdict(local.Max <= 1)} |");
        md.AppendLine(Inv, $"| control-plane CPU per push | {Spread.Of(s.LocalPushCpuSeconds).Format("F2")} s | | |");
        var full = Spread.Of(s.FullPushSeconds);
        md.AppendLine(Inv, $"| full push: a change to every service (a second gateway replica in cluster 2 moves), until every client has its complete configuration again ({s.FullPushSeconds.Count} pushes) | {full.Format("F2")} s | ≤ 1 s | {Verdict(full.Max <= 1)} |");
        md.AppendLine(Inv, $"| control-plane CPU per full push | {Spread.Of(s.FullPushCpuSeconds).Format("F2")} s | | |");
        md.AppendLine(Inv, $"| control-plane memory per connected proxy (RSS {s.RssBeforeMiB:F0} → {s.RssAfterMiB:F0} MiB) | {s.MemoryPerProxyKiB:F0} KiB | ≤ 1 MB | {Verdict(s.MemoryPerProxyKiB <= 1000)} |");
        md.AppendLine();
    }

    private static string Verdict(bool met) => met ? "**met**" : "**missed**";
}
