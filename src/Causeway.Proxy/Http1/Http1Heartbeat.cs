using System.Collections.Concurrent;

namespace Causeway.Proxy.Http1;

/// <summary>
/// Once a second, as Kestrel's heartbeat does: ends the direct path's client connections that passed their deadline
/// (idle, slow head, or no byte moving for the activity timeout) and closes upstream connections idle too long.
/// One timer for every connection, so that a request sets a number instead of arming a timer.
/// </summary>
public sealed class Http1Heartbeat : IDisposable
{
    private readonly ConcurrentDictionary<Http1ClientConnection, byte> _clients = new();
    private readonly UpstreamPools _pools;
    private readonly Timer _timer;

    public Http1Heartbeat(UpstreamPools pools, TimeSpan interval)
    {
        _pools = pools;
        _timer = new Timer(static s => ((Http1Heartbeat)s!).Beat(), this, interval, interval);
    }

    /// <summary>Client connections on the direct path now.</summary>
    public int Connections => _clients.Count;

    public void Add(Http1ClientConnection client) => _clients.TryAdd(client, 0);

    public void Remove(Http1ClientConnection client) => _clients.TryRemove(client, out _);

    private void Beat()
    {
        var now = Environment.TickCount64;
        foreach (var client in _clients.Keys)
        {
            if (now > client.Deadline)
            {
                client.TimedOut();
            }
        }

        _pools.Sweep(now);
    }

    public void Dispose() => _timer.Dispose();
}
