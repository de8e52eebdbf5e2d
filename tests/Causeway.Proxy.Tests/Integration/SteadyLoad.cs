using System.Diagnostics;
using System.Net;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>
/// Requests to helloworld through a sidecar at a fixed rate, each on its own schedule (a slow answer does not hold
/// back the next request), until stopped; every answer that is not 200 is kept with its time and reason.
/// </summary>
internal sealed class SteadyLoad
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<Result> _run;

    private SteadyLoad(IPAddress sidecar, int rate, string url) => _run = Task.Run(() => RunAsync(sidecar, rate, url));

    public sealed record Result(int Ok, int Failed, IReadOnlyList<string> Failures)
    {
        public override string ToString() => $"{Ok} answered, {Failed} failed" + (Failures.Count > 0 ? ": " + string.Join("; ", Failures.Take(5)) : "");
    }

    public static SteadyLoad Start(IPAddress sidecar, int rate, string url = "http://helloworld.sample:5000/hello") => new(sidecar, rate, url);

    /// <summary>Stops sending and waits for every request sent to be answered.</summary>
    public async Task<Result> StopAsync()
    {
        await _stop.CancelAsync();
        var result = await _run;
        _stop.Dispose();
        return result;
    }

    private async Task<Result> RunAsync(IPAddress sidecar, int rate, string url)
    {
        using var client = DataPlaneLab.ClientVia(sidecar);
        var interval = (long)(Stopwatch.Frequency / (double)rate);
        var next = Stopwatch.GetTimestamp();
        var sent = new List<Task<string?>>();
        while (!_stop.IsCancellationRequested)
        {
            sent.Add(OneAsync(client, url));
            next += interval;
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, CancellationToken.None);
            }
        }

        var failures = new List<string>();
        foreach (var outcome in await Task.WhenAll(sent))
        {
            if (outcome is not null)
            {
                failures.Add(outcome);
            }
        }

        return new Result(sent.Count - failures.Count, failures.Count, failures);
    }

    /// <summary>Null when the request got 200, else when and what went wrong.</summary>
    private static async Task<string?> OneAsync(HttpClient client, string url)
    {
        try
        {
            using var response = await client.GetAsync(url);
            return response.IsSuccessStatusCode ? null : $"{DateTime.UtcNow:HH:mm:ss.fff} {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return $"{DateTime.UtcNow:HH:mm:ss.fff} {e.GetType().Name}: {e.Message}";
        }
    }
}
