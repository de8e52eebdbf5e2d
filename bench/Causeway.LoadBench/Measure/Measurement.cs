namespace Causeway.LoadBench.Measure;

/// <summary>One peer in one run of one scenario: what the load saw and what the peer's proxies used.</summary>
public sealed record Measurement(string Scenario, string Peer, int Run)
{
    public double RequestsPerSecond { get; init; }

    public long Requests { get; init; }

    public long Errors { get; init; }

    /// <summary>Bytes the load received (B6's streams).</summary>
    public long Bytes { get; init; }

    /// <summary>Latency percentiles in milliseconds (B2), from each request's scheduled start.</summary>
    public double P50 { get; init; } = double.NaN;

    public double P90 { get; init; } = double.NaN;

    public double P99 { get; init; } = double.NaN;

    public double Mean { get; init; } = double.NaN;

    /// <summary>CPU seconds of all the peer's proxy processes during the measurement.</summary>
    public double ProxyCpuSeconds { get; init; }

    public double Seconds { get; init; }

    /// <summary>Per proxy process (a pair has two), in MiB, at the end of the measurement.</summary>
    public double RssMiBPerProxy { get; init; } = double.NaN;

    public double PssMiBPerProxy { get; init; } = double.NaN;

    public int Proxies { get; init; }

    /// <summary>Requests per CPU-second of the proxy: throughput per core, whatever else shared the machine.</summary>
    public double RequestsPerCpuSecond => ProxyCpuSeconds > 0 ? Requests / ProxyCpuSeconds : double.NaN;

    /// <summary>Bytes per CPU-second of the proxy (B6's streams).</summary>
    public double BytesPerCpuSecond => ProxyCpuSeconds > 0 ? Bytes / ProxyCpuSeconds : double.NaN;

    /// <summary>Gigabits per second received by the load.</summary>
    public double Gbits => Seconds > 0 ? Bytes * 8 / Seconds / 1e9 : double.NaN;

    /// <summary>vCPU of one proxy per 1,000 req/s.</summary>
    public double VcpuPerThousandPerProxy => Proxies == 0 || Seconds <= 0 || RequestsPerSecond <= 0 ? double.NaN : ProxyCpuSeconds / Seconds / Proxies * (1000 / RequestsPerSecond);
}
