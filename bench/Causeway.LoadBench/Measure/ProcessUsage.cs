using System.Globalization;

namespace Causeway.LoadBench.Measure;

/// <summary>
/// CPU time and memory of a set of processes and their children, read from /proc: utime+stime (whole process,
/// exited threads included), VmRSS, and PSS from smaps_rollup (shared pages split among their users).
/// </summary>
public static class ProcessUsage
{
    /// <summary>/proc reports times in USER_HZ, which Linux fixes at 100 for user space.</summary>
    private const double TicksPerSecond = 100;

    /// <summary>The processes and all their descendants.</summary>
    public static List<int> WithDescendants(IEnumerable<int> roots)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Stat(pid) is { } fields)
            {
                parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            }
        }

        var result = new List<int>(roots);
        for (var i = 0; i < result.Count; i++)
        {
            foreach (var (pid, parent) in parents)
            {
                if (parent == result[i] && !result.Contains(pid))
                {
                    result.Add(pid);
                }
            }
        }

        return result;
    }

    /// <summary>CPU seconds (user + system) used so far by these processes.</summary>
    public static double CpuSeconds(IEnumerable<int> pids)
    {
        double ticks = 0;
        foreach (var pid in pids)
        {
            if (Stat(pid) is { } f)
            {
                // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
                ticks += double.Parse(f[11], CultureInfo.InvariantCulture) + double.Parse(f[12], CultureInfo.InvariantCulture);
            }
        }

        return ticks / TicksPerSecond;
    }

    /// <summary>Resident set size, in MiB, summed over the processes.</summary>
    public static double RssMiB(IEnumerable<int> pids) => SumKiB(pids, "status", "VmRSS:") / 1024;

    /// <summary>Proportional set size, in MiB, summed over the processes.</summary>
    public static double PssMiB(IEnumerable<int> pids) => SumKiB(pids, "smaps_rollup", "Pss:") / 1024;

    private static double SumKiB(IEnumerable<int> pids, string file, string key)
    {
        double total = 0;
        foreach (var pid in pids)
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{pid}/{file}"))
                {
                    if (line.StartsWith(key, StringComparison.Ordinal))
                    {
                        total += double.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                        break;
                    }
                }
            }
            catch (IOException)
            {
            }
        }

        return total;
    }

    /// <summary>The fields after "(comm)" of /proc/PID/stat: [0] is the state, [1] the parent.</summary>
    private static string[]? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }
}
