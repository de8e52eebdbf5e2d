using System.CommandLine;
using System.Globalization;
using Causeway.LoadBench;
using Causeway.LoadBench.Peers;
using Causeway.LoadBench.Report;
using Causeway.LoadBench.Scenarios;

// bench/run sizes this process's shared array pool and gen0 budget for B8's 1,000 simulated sidecars. The runtime read
// the gen0 budget at start; the pool reads its size when an array first goes back to a partition (the second of a
// size on a thread). Cleared then, so that the processes started from here (proxies, control planes) choose their own
// (causeway sets the pool to 256 arrays of a size per core; the gen0 budget stays the runtime's).
var warm = new[] { System.Buffers.ArrayPool<byte>.Shared.Rent(64), System.Buffers.ArrayPool<byte>.Shared.Rent(64) };
Array.ForEach(warm, a => System.Buffers.ArrayPool<byte>.Shared.Return(a));
Environment.SetEnvironmentVariable("DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION", null);
Environment.SetEnvironmentVariable("DOTNET_GCgen0size", null);

var runs = new Option<int?>("--runs") { Description = "Measured runs per scenario (default 5; 1 with --smoke)." };
var seconds = new Option<double?>("--seconds") { Description = "Seconds each peer is measured per run (default 10)." };
var rate = new Option<int?>("--rate") { Description = "B2/B3 request rate (default 1000)." };
var scenarios = new Option<string>("--scenarios") { Description = "Comma-separated scenarios: B1, B2, B3, B4, B5, B6, B7, B8.", DefaultValueFactory = _ => "B1,B2,B3,B4,B5,B6,B7,B8" };
var services = new Option<int?>("--services") { Description = "B8's services, each registered in both clusters (default 5000)." };
var clients = new Option<int?>("--clients") { Description = "B8's simulated sidecars on cluster 1's discovery stream (default 1000)." };
var changes = new Option<int?>("--changes") { Description = "B8's measured changes, each a new endpoint in cluster 2 (default 25)." };
var fullPushes = new Option<int?>("--full-pushes") { Description = "B8's measured full pushes, each a change to every service (default 5)." };
var compression = new Option<string>("--compression") { Description = "What B8's simulated sidecars accept: br (Brotli or gzip, as real sidecars), gzip, or none (to compare).", DefaultValueFactory = _ => "br" };
compression.AcceptOnlyFromAmong("br", "gzip", "none");
var output = new Option<string>("--output") { Description = "Where results.md and the PNG plots are written.", DefaultValueFactory = _ => Path.Combine("bench", "results") };
var peers = new Option<string?>("--peers") { Description = "Comma-separated peers to measure (causeway, causeway-h2, haproxy, nginx; the no-proxy baseline always is), to profile one; default all." };
var smoke = new Option<bool>("--smoke") { Description = "A seconds-long run of every scenario (what the test suite runs so the benchmarks cannot rot)." };
var root = new RootCommand("Causeway's side-by-side load benchmarks (issue 5: B1-B3, B4 HTTP/2, B5 mTLS handshakes, B6 the east-west gateway) against HAProxy and nginx on this machine, and cross-cluster convergence (B7), and control-plane scale (B8).") { runs, seconds, rate, scenarios, output, smoke, services, clients, changes, fullPushes, compression, peers };
root.SetAction(async (parse, cancellationToken) =>
{
    var basis = parse.GetValue(smoke) ? BenchSettings.Smoke : new BenchSettings();
    var wanted = parse.GetValue(scenarios)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
    if (wanted.FirstOrDefault(s => s.ToUpperInvariant() is not ("B1" or "B2" or "B3" or "B4" or "B5" or "B6" or "B7" or "B8")) is { } unknown)
    {
        Console.Error.WriteLine($"error: scenario '{unknown}' is not known; this harness runs B1 to B8 (B9 is bench/Causeway.Benchmarks)");
        return 2;
    }

    var settings = basis with
    {
        Runs = parse.GetValue(runs) ?? basis.Runs,
        Seconds = parse.GetValue(seconds) ?? basis.Seconds,
        Rate = parse.GetValue(rate) ?? basis.Rate,
        ScaleServices = parse.GetValue(services) ?? basis.ScaleServices,
        ScaleClients = parse.GetValue(clients) ?? basis.ScaleClients,
        ScalePushes = parse.GetValue(changes) ?? basis.ScalePushes,
        ScaleFullPushes = parse.GetValue(fullPushes) ?? basis.ScaleFullPushes,
        ScaleCompression = parse.GetValue(compression) ?? basis.ScaleCompression,
        Scenarios = wanted,
        Peers = parse.GetValue(peers) is { } named ? new HashSet<string>(named.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.OrdinalIgnoreCase) : null,
    };
    if (settings.Runs < 1 || settings.Seconds <= 0 || settings.Rate < 1 || settings.ScaleServices < 1 || settings.ScaleClients < 1 || settings.ScalePushes < 1 || settings.ScaleFullPushes < 1)
    {
        Console.Error.WriteLine("error: --runs, --seconds, --rate, --services, --clients, --changes and --full-pushes must be positive");
        return 2;
    }

    var outDir = Path.GetFullPath(parse.GetValue(output)!);
    Directory.CreateDirectory(outDir);
    var work = Path.Combine(Path.GetTempPath(), "causeway-loadbench-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
    // The scenarios do not watch for a stop (SIGTERM, Ctrl+C), so what they started is killed under them: their awaits
    // then fail at once and the work directory goes on the way out, instead of proxies, peers and labs left running.
    using var stop = cancellationToken.Register(() =>
    {
        foreach (var pid in Causeway.LoadBench.Measure.ProcessUsage.WithDescendants([Environment.ProcessId]))
        {
            if (pid != Environment.ProcessId)
            {
                try
                {
                    using var process = System.Diagnostics.Process.GetProcessById(pid);
                    process.Kill();
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                }
            }
        }
    });
    try
    {
        List<Causeway.LoadBench.Measure.Measurement> results = [];
        (double, double)? crossCheck = null;
        IReadOnlyDictionary<string, string> missing = new Dictionary<string, string>();
        if (wanted.Overlaps(["B1", "B2", "B3", "B4", "B5", "B6"]))
        {
            await using var testbed = await Testbed.StartAsync(work, settings);
            var runner = new ScenarioRunner(testbed, settings, Console.Out);
            await runner.RunAsync();
            (results, crossCheck, missing) = (runner.Results, runner.CrossCheck, testbed.Missing);
        }

        // Its own two-cluster lab, after the proxies of B1-B3 are gone.
        var convergence = wanted.Contains("B7") && !cancellationToken.IsCancellationRequested ? await new ConvergenceRun(work, settings.ConvergenceChanges, Console.Out).RunAsync() : null;
        var scale = wanted.Contains("B8") && !cancellationToken.IsCancellationRequested ? await new ControlPlaneScaleRun(work, settings, Console.Out).RunAsync() : null;
        if (cancellationToken.IsCancellationRequested)
        {
            // What ran after the stop measured processes being killed.
            Console.Error.WriteLine("stopped: no results written");
            return 130;
        }

        var report = new ResultsReport(results, settings, crossCheck, missing, convergence, scale);
        var markdown = report.ToMarkdown(Machine());
        var plots = Plots.Write(report, outDir);
        await File.WriteAllTextAsync(Path.Combine(outDir, "results.md"), markdown + string.Concat(plots.Select(p => $"![{p}]({p})\n")), cancellationToken);
        Console.WriteLine();
        Console.WriteLine(markdown);
        Console.WriteLine($"written: {Path.Combine(outDir, "results.md")}{string.Concat(plots.Select(p => ", " + p))}");
    }
    finally
    {
        Directory.Delete(work, recursive: true);
    }

    return 0;
});
return await root.Parse(args).InvokeAsync(Causeway.Proxy.Hosting.TerminationGrace.Invocation());

static string Machine()
{
    var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
    var cores = File.ReadLines("/proc/cpuinfo").Count(l => l.StartsWith("processor", StringComparison.Ordinal));
    var proxy = Causeway.Lab.LabProcesses.ConfiguredProxy is not null
        ? "Causeway's proxies causeway-proxy (Native AOT)"
        : "Causeway's proxies `causeway proxy` (JIT)";
    return $"{cpu}, {cores} cores, .NET {Environment.Version}; {proxy}";
}
