namespace Causeway.Proxy.Hosting;

/// <summary>
/// Gives back memory the garbage collector keeps committed after a full collection, as Envoy's memory allocator manager
/// releases tcmalloc's free pages on an interval. A compacting full collection moves the heap into new regions and
/// keeps the old ones committed, freeing them only a little at each later collection: a sidecar's first full
/// collection (bench B3) took its committed memory from 7.2 to 12.5 MB for a 4.5 MB heap, and it was still 10.4 MB
/// a minute later. Checked every <see cref="HeapReleaseOptions.Interval"/>; when a full collection the proxy did not ask
/// for has happened since the last check and the committed memory exceeds the heap by more than
/// <see cref="HeapReleaseOptions.SlackBytes"/>, one aggressive collection returns the free regions. It follows only
/// full collections, which a proxy's small heap makes rare, so it cannot repeat on its own. One per process: the heap is.
/// </summary>
public sealed class HeapRelease : IDisposable
{
    private static long _releases;
    private static long _lastReleaseMicroseconds;

    private readonly HeapReleaseOptions _options;
    private readonly Func<int> _fullCollections;
    private readonly Func<long> _slackBytes;
    private readonly Action _collect;
    private readonly Timer? _timer;
    private int _seen;

    /// <summary>Starts checking the process's garbage collector.</summary>
    public HeapRelease(HeapReleaseOptions options)
        : this(options, static () => GC.CollectionCount(GC.MaxGeneration), SlackOfLastCollection, CollectAggressively)
    {
        _timer = new Timer(static s => ((HeapRelease)s!).Check(), this, options.Interval, options.Interval);
    }

    /// <summary>For tests: the counts, the slack and the collection supplied, checked only when <see cref="Check"/> is called.</summary>
    internal HeapRelease(HeapReleaseOptions options, Func<int> fullCollections, Func<long> slackBytes, Action collect)
    {
        _options = options;
        _fullCollections = fullCollections;
        _slackBytes = slackBytes;
        _collect = collect;
        _seen = fullCollections();
    }

    /// <summary>Collections this process made to give memory back (the admin port's /memory shows it).</summary>
    public static long Releases => Interlocked.Read(ref _releases);

    /// <summary>How long the last of them took, in microseconds: the pause it cost every thread (0 before the first).</summary>
    public static long LastReleaseMicroseconds => Interlocked.Read(ref _lastReleaseMicroseconds);

    /// <summary>Releases when a full collection came since the last check and left more than the slack committed; true when it did.</summary>
    internal bool Check()
    {
        var count = _fullCollections();
        if (count == _seen)
        {
            return false;
        }

        _seen = count;
        if (_slackBytes() <= _options.SlackBytes)
        {
            return false;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        _collect();
        Interlocked.Exchange(ref _lastReleaseMicroseconds, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        // Its own collection is a full one too: not a reason to release again.
        _seen = _fullCollections();
        Interlocked.Increment(ref _releases);
        return true;
    }

    private static long SlackOfLastCollection()
    {
        var info = GC.GetGCMemoryInfo();
        return info.TotalCommittedBytes - info.HeapSizeBytes;
    }

    private static void CollectAggressively() =>
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    public void Dispose() => _timer?.Dispose();
}
