using HdrHistogram;

namespace Causeway.LoadBench.Load;

/// <summary>
/// What one open-loop run measured: latency from each request's scheduled start, how late the scheduler woke for each
/// (the generator's own error, included in the latency), and what went wrong.
/// </summary>
public sealed record LoadResult(HistogramBase Latency, HistogramBase SchedulerLag, long Sent, long Completed, long Failed, long NotCompleted, TimeSpan Duration)
{
    /// <summary>A latency percentile in milliseconds.</summary>
    public double Percentile(double p) => Latency.TotalCount == 0 ? double.NaN : Latency.GetValueAtPercentile(p) / 1e6;

    public double MeanMilliseconds => Latency.TotalCount == 0 ? double.NaN : Latency.GetMean() / 1e6;

    /// <summary>Requests that got a non-2xx answer, a broken connection, or no answer before the end.</summary>
    public long Errors => Failed + NotCompleted;
}
