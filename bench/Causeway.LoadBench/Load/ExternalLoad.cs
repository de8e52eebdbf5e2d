using System.Globalization;
using System.Text.RegularExpressions;
using Causeway.Lab;

namespace Causeway.LoadBench.Load;

/// <summary>wrk and h2load (closed-loop saturation; h2load also cross-checks the open-loop generator), pinned and parsed.</summary>
public static partial class ExternalLoad
{
    /// <summary>
    /// wrk with one thread and a fixed connection count for whole seconds (at least one: wrk takes no fractions);
    /// returns requests/s, requests, and errors (non-2xx/3xx and socket errors).
    /// </summary>
    public static async Task<(double RequestsPerSecond, long Requests, long Errors)> WrkAsync(string cpus, string url, string host, int connections, double seconds)
    {
        var output = await RunAsync("taskset", "-c", cpus, "wrk", "-t1", $"-c{connections}", $"-d{Math.Max(1, (int)Math.Round(seconds)).ToString(CultureInfo.InvariantCulture)}s", "-H", $"Host: {host}", url);
        var rps = Number(RequestsPerSec().Match(output), output);
        var requests = (long)Number(RequestsTotal().Match(output), output);
        long errors = 0;
        if (Non2xx().Match(output) is { Success: true } m)
        {
            errors += long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        foreach (Match s in SocketErrors().Matches(output))
        {
            errors += long.Parse(s.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        return (rps, requests, errors);
    }

    /// <summary>
    /// h2load over HTTP/1.1, one connection, <paramref name="requests"/> requests in sequence; returns its mean time
    /// per request in ms. (A -H host header would be sent beside h2load's own, which nginx refuses as a duplicate.)
    /// </summary>
    public static async Task<double> H2loadMeanAsync(string cpus, string url, int requests)
    {
        var output = await RunAsync("taskset", "-c", cpus, "h2load", "--h1", "-c1", $"-n{requests}", url);
        var m = H2loadTime().Match(output);
        if (!m.Success || !output.Contains($"{requests} succeeded", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("h2load did not report its time per request:\n" + output);
        }

        return Milliseconds(m.Groups[3].Value);
    }

    /// <summary>
    /// h2load over cleartext HTTP/2 (prior knowledge) with a fixed number of connections and streams on each, for
    /// whole seconds (B4); returns requests/s, requests that succeeded, and those that failed (h2load's "failed"
    /// includes the "errored": streams reset and connections lost), whose counts and statuses go to <paramref name="log"/>.
    /// With <paramref name="bodyFile"/> each request is a POST of that file, with <paramref name="headers"/> added.
    /// </summary>
    public static async Task<(double RequestsPerSecond, long Succeeded, long Failed)> H2loadSaturationAsync(string cpus, string url, string authority, int connections, int streams, double seconds, string? bodyFile = null, IReadOnlyList<string>? headers = null, TextWriter? log = null)
    {
        List<string> command = ["taskset", "-c", cpus, "h2load", $"-c{connections}", $"-m{streams}", "-D", Math.Max(1, (int)Math.Round(seconds)).ToString(CultureInfo.InvariantCulture), "-H", $":authority: {authority}"];
        if (bodyFile is not null)
        {
            command.AddRange(["-d", bodyFile]);
        }

        foreach (var header in headers ?? [])
        {
            command.AddRange(["-H", header]);
        }

        command.Add(url);
        var output = await RunAsync([.. command]);
        var rate = H2loadRate().Match(output);
        var counts = H2loadCounts().Match(output);
        if (!rate.Success || !counts.Success)
        {
            throw new InvalidOperationException("cannot read h2load's output:\n" + output);
        }

        long Count(int group) => long.Parse(counts.Groups[group].Value, CultureInfo.InvariantCulture);
        if (Count(2) > 0 && log is not null)
        {
            log.WriteLine($"h2load to {url}: {counts.Value}; {H2loadStatuses().Match(output).Value}");
        }

        return (double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture), Count(1), Count(2));
    }

    private static double Milliseconds(string value) =>
        value.EndsWith("us", StringComparison.Ordinal) ? double.Parse(value[..^2], CultureInfo.InvariantCulture) / 1000
        : value.EndsWith("ms", StringComparison.Ordinal) ? double.Parse(value[..^2], CultureInfo.InvariantCulture)
        : double.Parse(value[..^1], CultureInfo.InvariantCulture) * 1000;

    private static double Number(Match m, string output) =>
        m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : throw new InvalidOperationException("cannot read wrk's output:\n" + output);

    /// <summary>Runs a load tool to its end; its standard output and error together, or an error with both.</summary>
    private static async Task<string> RunAsync(params string[] command)
    {
        var (code, output, error) = await NetworkFabric.RunUncheckedAsync(command);
        return code == 0 ? output + error : throw new InvalidOperationException($"{string.Join(' ', command)} exited {code}:\n{output}{error}");
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSec();

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex RequestsTotal();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex Non2xx();

    [GeneratedRegex(@"(?:connect|read|write|timeout) (\d+)")]
    private static partial Regex SocketErrors();

    [GeneratedRegex(@"finished in [\d.]+\w+, ([\d.]+) req/s")]
    private static partial Regex H2loadRate();

    [GeneratedRegex(@"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored")]
    private static partial Regex H2loadCounts();

    [GeneratedRegex(@"status codes: [^\n]*")]
    private static partial Regex H2loadStatuses();

    [GeneratedRegex(@"time for request:\s+(\S+)\s+(\S+)\s+(\S+)")]
    private static partial Regex H2loadTime();
}
