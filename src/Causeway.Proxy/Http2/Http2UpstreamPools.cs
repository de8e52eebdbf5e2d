using System.Collections.Concurrent;

namespace Causeway.Proxy.Http2;

/// <summary>
/// The HTTP/2 path's upstream pools, one per (address, port, SNI): an SNI of "" is h2c. Connections idle past the
/// upstream idle timeout are closed, and a pool left empty and unused that long is dropped.
/// </summary>
public sealed class Http2UpstreamPools(Func<Http2UpstreamPool, Task<Http2UpstreamConnection>> connect, Http2Limits limits) : IDisposable
{
    private readonly ConcurrentDictionary<(string Address, int Port, string Sni), Http2UpstreamPool> _pools = new();

    /// <summary>Pools whose connections are made by <paramref name="connector"/>: mTLS with ALPN h2 to mesh endpoints, h2c to an SNI of "".</summary>
    public static Http2UpstreamPools Connecting(Outbound.MeshConnector connector, Http2Limits limits) =>
        new(async pool => new Http2UpstreamConnection(
            await connector.ConnectHttp2Async(new Outbound.UpstreamTarget(pool.Address, pool.Port, pool.Sni), CancellationToken.None), limits, pool), limits);

    public Http2UpstreamPool For(string address, int port, string sni)
    {
        var key = (address, port, sni);
        while (true)
        {
            var pool = _pools.GetOrAdd(key, static (k, owner) => new Http2UpstreamPool(owner, k.Address, k.Port, k.Sni), this);
            if (!pool.Dropped)
            {
                return pool;
            }

            _pools.TryRemove(new KeyValuePair<(string, int, string), Http2UpstreamPool>(key, pool));
        }
    }

    /// <summary>The limits every connection of these pools runs with.</summary>
    public Http2Limits Limits => limits;

    /// <summary>Upstream connections open across the pools.</summary>
    public int Connections => _pools.Values.Sum(p => p.ConnectionCount);

    internal Task<Http2UpstreamConnection> ConnectAsync(Http2UpstreamPool pool) => connect(pool);

    /// <summary>Runs an upstream connection's read loop until it ends.</summary>
    internal async Task RunAsync(Http2UpstreamConnection connection)
    {
        try
        {
            await connection.RunAsync();
        }
        finally
        {
            connection.Dispose();
        }
    }

    internal string Describe() => string.Join('\n', _pools.Values.Select(p => p.Describe()));

    public void Sweep(long now)
    {
        var idleSince = now - (long)limits.UpstreamIdleTimeout.TotalMilliseconds;
        foreach (var (key, pool) in _pools)
        {
            if (pool.CloseIdle(idleSince))
            {
                _pools.TryRemove(new KeyValuePair<(string, int, string), Http2UpstreamPool>(key, pool));
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
