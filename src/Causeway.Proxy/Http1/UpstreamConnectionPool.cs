namespace Causeway.Proxy.Http1;

/// <summary>
/// The idle connections to one upstream (address, port and, for mesh mTLS, SNI). The newest idle connection is used
/// first, so that the older ones age out under light load; one idle past <see cref="Http1Limits.UpstreamIdleTimeout"/>
/// is closed.
/// </summary>
public sealed class UpstreamConnectionPool(Http1Limits limits)
{
    /// <summary>
    /// A connection idle for less than this is taken without asking the kernel whether the other side closed it: under
    /// load connections come back and go out again within microseconds, and the check was 3% of a saturated sidecar's
    /// CPU (bench B1). The rare close that lands in that window fails like one that lands during the request.
    /// </summary>
    public const long UncheckedIdleMilliseconds = 1;

    private readonly Stack<UpstreamConnection> _idle = new();
    private readonly Lock _lock = new();

    /// <summary>When the pool last lent or took back a connection (<see cref="Environment.TickCount64"/>).</summary>
    public long LastUsed { get; private set; } = Environment.TickCount64;

    public int IdleCount
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count;
            }
        }
    }

    /// <summary>The newest idle connection that is neither too old nor closed by the other side, or null.</summary>
    public UpstreamConnection? TryTake()
    {
        var now = Environment.TickCount64;
        lock (_lock)
        {
            LastUsed = now;
            while (_idle.TryPop(out var connection))
            {
                var justReturned = System.Diagnostics.Stopwatch.GetTimestamp() - connection.ReturnedAt < System.Diagnostics.Stopwatch.Frequency / 1000 * UncheckedIdleMilliseconds;
                if (now - connection.IdleSince < (long)limits.UpstreamIdleTimeout.TotalMilliseconds && (justReturned || connection.IsIdleAndOpen()))
                {
                    return connection;
                }

                connection.Dispose();
            }
        }

        return null;
    }

    /// <summary>Keeps a connection whose last response ended cleanly, unless the pool is full.</summary>
    public void Return(UpstreamConnection connection)
    {
        connection.Reused = true;
        connection.IdleSince = Environment.TickCount64;
        connection.ReturnedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_lock)
        {
            LastUsed = connection.IdleSince;
            if (_idle.Count < limits.MaxIdleUpstreamConnections)
            {
                _idle.Push(connection);
                return;
            }
        }

        connection.Dispose();
    }

    /// <summary>
    /// Closes the connections idle for longer than the limit, and those the other side has closed (a drained or stopped
    /// endpoint's, which would otherwise hold a descriptor until they expire); returns how many are left.
    /// </summary>
    public int CloseExpired(long now)
    {
        lock (_lock)
        {
            if (_idle.Count == 0)
            {
                return 0;
            }

            var kept = _idle.Where(c => now - c.IdleSince < (long)limits.UpstreamIdleTimeout.TotalMilliseconds && c.IsIdleAndOpen()).Reverse().ToList();
            foreach (var c in _idle)
            {
                if (!kept.Contains(c))
                {
                    c.Dispose();
                }
            }

            _idle.Clear();
            foreach (var c in kept)
            {
                _idle.Push(c);
            }

            return kept.Count;
        }
    }

    /// <summary>Closes every idle connection.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            while (_idle.TryPop(out var c))
            {
                c.Dispose();
            }
        }
    }
}
