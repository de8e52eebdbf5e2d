using System.Collections.Concurrent;
using Causeway.ControlPlane.Topology;

namespace Causeway.ControlPlane.Discovery;

/// <summary>The proxies currently streaming from this control plane, keyed by a per-stream id.</summary>
public sealed class ConnectedProxies
{
    private readonly ConcurrentDictionary<long, ProxyConnection> _connections = new();
    private long _next;

    public long Add(ProxyConnection connection)
    {
        var id = Interlocked.Increment(ref _next);
        _connections[id] = connection;
        return id;
    }

    public void Remove(long id) => _connections.TryRemove(id, out _);

    public IReadOnlyList<ProxyConnection> All => _connections.Values.OrderBy(c => c.Node.Id, StringComparer.Ordinal).ToList();

    public int Count => _connections.Count;

    public void OfferAll(MeshTopology topology)
    {
        foreach (var connection in _connections.Values)
        {
            connection.Offer(topology);
        }
    }
}
