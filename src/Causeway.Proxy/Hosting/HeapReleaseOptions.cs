namespace Causeway.Proxy.Hosting;

/// <summary>When <see cref="HeapRelease"/> looks and how much unused committed memory it lets be.</summary>
public sealed class HeapReleaseOptions
{
    /// <summary>How often the garbage collector's figures are read (10 s; Envoy's memory_release_interval has no default).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Committed memory beyond the heap that is left alone (4 MiB: about two of the proxy's gen0 budgets).</summary>
    public long SlackBytes { get; init; } = 4 * 1024 * 1024;
}
