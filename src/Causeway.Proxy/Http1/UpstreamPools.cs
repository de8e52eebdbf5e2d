using System.Collections.Concurrent;

namespace Causeway.Proxy.Http1;

/// <summary>
/// The direct path's upstream connection pools, one per (address, port, SNI): an SNI of "" is a plaintext connection.
/// A pool left empty and unused for twice the idle timeout is dropped, so endpoints that went away leave nothing behind.
/// </summary>
public sealed class UpstreamPools(Http1Limits limits) : IDisposable
{
    private readonly ConcurrentDictionary<(string Address, int Port, string Sni), UpstreamConnectionPool> _pools = new();

    /// <summary>The pool of one upstream; made on first use, and again if it was let go.</summary>
    public UpstreamConnectionPool For(string address, int port, string sni)
    {
        var key = (address, port, sni);
        while (true)
        {
            var pool = _pools.TryGetValue(key, out var found) ? found : _pools.GetOrAdd(key, _ => new UpstreamConnectionPool(limits));
            if (!pool.Dropped)
            {
                return pool;
            }

            _pools.TryRemove(new KeyValuePair<(string, int, string), UpstreamConnectionPool>(key, pool));
        }
    }

    /// <summary>Idle upstream connections across the pools.</summary>
    public int IdleConnections => _pools.Values.Sum(p => p.IdleCount);

    /// <summary>Closes expired idle connections and drops pools long unused.</summary>
    public void Sweep(long now)
    {
        foreach (var (key, pool) in _pools)
        {
            if (pool.CloseExpired() == 0 && pool.TryDrop(now - 2 * (long)limits.UpstreamIdleTimeout.TotalMilliseconds))
            {
                _pools.TryRemove(new KeyValuePair<(string, int, string), UpstreamConnectionPool>(key, pool));
            }
        }
    }

    public void Dispose()
    {
        foreach (var pool in _pools.Values)
        {
            pool.Clear();
        }
    }
}
