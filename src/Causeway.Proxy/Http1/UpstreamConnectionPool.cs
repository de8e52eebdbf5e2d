using System.Diagnostics;

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
        lock (_lock)
        {
            LastUsed = Environment.TickCount64;
            while (_idle.TryPop(out var connection))
            {
                var idle = Stopwatch.GetElapsedTime(connection.ReturnedAt);
                if (idle < limits.UpstreamIdleTimeout && (idle.TotalMilliseconds < UncheckedIdleMilliseconds || connection.IsIdleAndOpen()))
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
        connection.ReturnedAt = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            LastUsed = Environment.TickCount64;
            if (!Dropped && _idle.Count < limits.MaxIdleUpstreamConnections)
            {
                _idle.Push(connection);
                return;
            }
        }

        connection.Dispose();
    }

    /// <summary>True once <see cref="UpstreamPools"/> let the pool go: a connection coming back to it is closed, not kept where no sweep sees it.</summary>
    public bool Dropped { get; private set; }

    /// <summary>Lets the pool go when it holds nothing and was last used before <paramref name="unusedSince"/> (<see cref="Environment.TickCount64"/>).</summary>
    public bool TryDrop(long unusedSince)
    {
        lock (_lock)
        {
            if (_idle.Count == 0 && LastUsed < unusedSince)
            {
                Dropped = true;
            }

            return Dropped;
        }
    }

    /// <summary>
    /// Closes the connections idle for longer than the limit, and those the other side has closed (a drained or stopped
    /// endpoint's, which would otherwise hold a descriptor until they expire); returns how many are left.
    /// </summary>
    public int CloseExpired()
    {
        lock (_lock)
        {
            // Newest on top: put the survivors back oldest first so the order holds.
            var idle = _idle.ToArray();
            _idle.Clear();
            for (var i = idle.Length - 1; i >= 0; i--)
            {
                if (Stopwatch.GetElapsedTime(idle[i].ReturnedAt) < limits.UpstreamIdleTimeout && idle[i].IsIdleAndOpen())
                {
                    _idle.Push(idle[i]);
                }
                else
                {
                    idle[i].Dispose();
                }
            }

            return _idle.Count;
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
