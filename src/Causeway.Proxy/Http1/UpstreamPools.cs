using System.Collections.Concurrent;

namespace Causeway.Proxy.Http1;

/// <summary>
/// The direct path's upstream connection pools, one per (address, port, SNI): an SNI of "" is a plaintext connection.
/// A pool left empty and unused for twice the idle timeout is dropped, so endpoints that went away leave nothing behind.
/// </summary>
public sealed class UpstreamPools(Http1Limits limits) : IDisposable
{
    private readonly ConcurrentDictionary<(string Address, int Port, string Sni), UpstreamConnectionPool> _pools = new();

    /// <summary>The pool of one upstream; made on first use.</summary>
    public UpstreamConnectionPool For(string address, int port, string sni) =>
        _pools.TryGetValue((address, port, sni), out var pool) ? pool : _pools.GetOrAdd((address, port, sni), _ => new UpstreamConnectionPool(limits));

    /// <summary>Idle upstream connections across the pools.</summary>
    public int IdleConnections => _pools.Values.Sum(p => p.IdleCount);

    /// <summary>Closes expired idle connections and drops pools long unused.</summary>
    public void Sweep(long now)
    {
        foreach (var (key, pool) in _pools)
        {
            if (pool.CloseExpired() == 0 && now - pool.LastUsed > 2 * (long)limits.UpstreamIdleTimeout.TotalMilliseconds)
            {
                _pools.TryRemove(key, out _);
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
