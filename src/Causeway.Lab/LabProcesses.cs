using System.Diagnostics;
using System.Globalization;

namespace Causeway.Lab;

/// <summary>
/// Starts causeway processes detached from the caller (their own session, output to a log file) and stops them:
/// SIGTERM, then SIGKILL after a grace period, only if the pid still belongs to a causeway process.
/// </summary>
public static class LabProcesses
{
    /// <summary>
    /// The runtime waits for this long without new tier-0 code before it starts counting calls towards optimised
    /// code, ten times longer when the process sees one CPU (as a sidecar pinned to, or limited to, one core does);
    /// under steady traffic new tier-0 code keeps appearing, so a busy one-CPU proxy ran unoptimised code for 20-30 s
    /// (B1: 20,000, then 29,000, then 38,000 req/s over its first three 8 s runs; 39,000 from the first with 0).
    /// </summary>
    public const string TieringDelay = "DOTNET_TC_CallCountingDelayMs";

    /// <summary>
    /// What a control plane runs with besides: no dynamic PGO. Its instrumented tier compiles every hot method twice, and a
    /// control plane meets most of its hot code at once, when every proxy connects (after it starts, or restarts among
    /// running proxies): in B8's first push the tiering thread took 45% of its CPU, and without PGO that push cost
    /// 3.9-4.2 CPU-seconds instead of 5.3-5.5, its full pushes no more (2026-12-02). Proxies keep PGO.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> ControlPlaneRuntime = new Dictionary<string, string> { ["DOTNET_TieredPGO"] = "0" };

    /// <summary>
    /// How to run causeway: this process's apphost when it is causeway, else <c>dotnet causeway.dll</c> from beside
    /// this assembly (a harness such as the benchmarks that references the CLI).
    /// </summary>
    public static IReadOnlyList<string> Self()
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var dll = Path.Combine(AppContext.BaseDirectory, "causeway.dll");
        return Path.GetFileNameWithoutExtension(host) switch
        {
            "causeway" => [host],
            "dotnet" => [host, dll],
            _ => [Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", dll],
        };
    }

    /// <summary>
    /// Names a <c>causeway-proxy</c> executable (the proxy compiled ahead of time: <c>dotnet publish
    /// src/Causeway.ProxyHost -c Release -r linux-x64</c>) for the lab to run its sidecars and gateways with instead of
    /// <c>causeway proxy</c>; bench/run sets it.
    /// </summary>
    public const string ProxyExecutable = "CAUSEWAY_PROXY";

    /// <summary>The executable <see cref="ProxyExecutable"/> names, or null: proxies run as <c>causeway proxy</c>.</summary>
    public static string? ConfiguredProxy => Environment.GetEnvironmentVariable(ProxyExecutable) is { Length: > 0 } proxy ? proxy : null;

    /// <summary>The command line for <c>causeway ARGS</c>: a proxy's through <see cref="ProxyExecutable"/> when it is set.</summary>
    public static IReadOnlyList<string> Command(IReadOnlyList<string> args)
    {
        if (args.Count > 0 && args[0] == "proxy" && ConfiguredProxy is { } proxy)
        {
            if (!File.Exists(proxy))
            {
                throw new InvalidOperationException($"{ProxyExecutable}={proxy} does not exist; publish it (dotnet publish src/Causeway.ProxyHost -c Release -r linux-x64 -o DIR) or unset {ProxyExecutable} to run `causeway proxy`");
            }

            return [proxy, .. args.Skip(1)];
        }

        return [.. Self(), .. args];
    }

    /// <summary>
    /// Starts <c>causeway ARGS</c> in the background, run through <paramref name="wrapper"/> if given (e.g. <c>ip netns
    /// exec POD</c>, which execs and so keeps the pid), with <paramref name="runtime"/>'s variables (e.g.
    /// <see cref="ControlPlaneRuntime"/>) where the environment does not set them; returns its pid once it is running.
    /// </summary>
    public static async Task<int> StartAsync(IReadOnlyList<string> args, string log, string pidFile, IReadOnlyList<string>? wrapper = null, IReadOnlyDictionary<string, string>? runtime = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        Directory.CreateDirectory(Path.GetDirectoryName(pidFile)!);
        File.Delete(pidFile);
        var info = new ProcessStartInfo("setsid") { UseShellExecute = false };
        // What the caller's environment sets wins, so a run can compare.
        foreach (var (name, value) in (runtime ?? new Dictionary<string, string>()).Append(new(TieringDelay, "0")))
        {
            if (Environment.GetEnvironmentVariable(name) is null)
            {
                info.Environment[name] = value;
            }
        }

        // A new session, so the process outlives the command that started it. The shell records its own pid (which
        // exec keeps), then becomes causeway with its output in the log: $0 is the pid file, $1 the log, the rest the command.
        foreach (var a in new[] { "-f", "/bin/sh", "-c", "echo $$ > \"$0\"; log=\"$1\"; shift; exec \"$@\" >> \"$log\" 2>&1 < /dev/null", pidFile, log })
        {
            info.ArgumentList.Add(a);
        }

        foreach (var a in (wrapper ?? []).Concat(Command(args)))
        {
            info.ArgumentList.Add(a);
        }

        using (var starter = Process.Start(info) ?? throw new InvalidOperationException("cannot run setsid"))
        {
            await starter.WaitForExitAsync();
        }

        for (var i = 0; i < 100; i++)
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                return pid;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"the process did not start; see {log}");
    }

    /// <summary>True while <paramref name="pid"/> is a running causeway process.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            return cmdline.Contains("causeway", StringComparison.Ordinal) && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// True while <paramref name="pid"/> exists and is not a zombie, whatever it runs: a process starting through
    /// <c>ip netns exec</c> and <c>setpriv</c> passes through several execs, during which its command line can be empty.
    /// </summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            return !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Stops the processes: SIGTERM to all, then SIGKILL to any still running after <paramref name="grace"/>.</summary>
    public static async Task StopAsync(IEnumerable<int> pids, TimeSpan grace)
    {
        var running = pids.Where(IsRunning).ToList();
        foreach (var pid in running)
        {
            Signal(pid, "TERM");
        }

        var deadline = DateTime.UtcNow + grace;
        while (running.Any(IsRunning) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        foreach (var pid in running.Where(IsRunning))
        {
            Signal(pid, "KILL");
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false, RedirectStandardError = true });
        kill?.WaitForExit();
    }
}
