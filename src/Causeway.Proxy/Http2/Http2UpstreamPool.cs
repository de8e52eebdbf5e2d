namespace Causeway.Proxy.Http2;

/// <summary>
/// The HTTP/2 connections to one upstream (address, port and SNI; an SNI of "" is h2c): a request opens a stream on a
/// connection with room, else waits for the one being made, else starts one, as SocketsHttpHandler does with
/// EnableMultipleHttp2Connections. One connection is made at a time; the requests that waited for it are told when it
/// is ready or has failed.
/// </summary>
public sealed class Http2UpstreamPool(Http2UpstreamPools owner, string address, int port, string sni)
{
    private readonly object _sync = new();

    // Replaced whole under _sync when a connection comes or goes, and read without the lock on every request.
    private volatile Http2UpstreamConnection[] _connections = [];
    private List<Http2UpstreamStream> _waiting = [];
    private bool _connecting;

    public string Address { get; } = address;

    public int Port { get; } = port;

    public string Sni { get; } = sni;

    /// <summary>When the pool last had a stream opened on it (<see cref="Environment.TickCount64"/>).</summary>
    public long LastUsed { get; private set; } = Environment.TickCount64;

    /// <summary>True once the pool was let go for lack of use: whoever kept it asks for a new one.</summary>
    public bool Dropped { get; private set; }

    public int ConnectionCount => _connections.Length;

    /// <summary>The limits of the pools this one belongs to.</summary>
    public Http2Limits Limits => owner.Limits;

    /// <summary>Opens the stream's request on a connection with room; false if none has. The caller holds the stream's lock.</summary>
    public bool TryOpen(Http2UpstreamStream stream)
    {
        LastUsed = Environment.TickCount64;
        foreach (var connection in _connections)
        {
            if (stream.TryOpenOnLocked(connection))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Queues the stream for the next connection, starting one if none is being made. The caller holds the stream's lock.</summary>
    public void Wait(Http2UpstreamStream stream)
    {
        lock (_sync)
        {
            _waiting.Add(stream);
            if (_connecting)
            {
                return;
            }

            _connecting = true;
        }

        _ = ConnectAsync();
    }

    private async Task ConnectAsync()
    {
        Http2UpstreamConnection? connection = null;
        string? failure = null;
        try
        {
            connection = await owner.ConnectAsync(this);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException or HttpRequestException or ObjectDisposedException)
        {
            failure = e.GetBaseException().Message;
        }

        List<Http2UpstreamStream> waiting;
        lock (_sync)
        {
            if (connection is not null)
            {
                _connections = [.. _connections, connection];
            }

            _connecting = false;
            waiting = _waiting;
            _waiting = [];
        }

        if (connection is not null)
        {
            _ = owner.RunAsync(connection);
        }

        Http2Batch.Enter();
        try
        {
            foreach (var stream in waiting)
            {
                if (connection is null)
                {
                    stream.OnConnectFailed(failure!);
                }
                else
                {
                    stream.OnPoolReady(this, connection);
                }
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    internal string Describe()
    {
        lock (_sync)
        {
            return $"pool {Address}:{Port} '{Sni}': waiting {_waiting.Count}, connecting {_connecting}" + string.Concat(_connections.Select(c => "\n " + c.Describe()));
        }
    }

    /// <summary>Forgets a connection that closed or is draining: new streams go elsewhere.</summary>
    public void Remove(Http2UpstreamConnection connection)
    {
        lock (_sync)
        {
            if (Array.IndexOf(_connections, connection) >= 0)
            {
                _connections = Array.FindAll(_connections, c => c != connection);
            }
        }
    }

    /// <summary>Closes connections idle (no stream) since before <paramref name="idleSince"/>; true if the pool is then empty and unused since then.</summary>
    public bool CloseIdle(long idleSince)
    {
        Http2UpstreamConnection[] idle;
        bool empty;
        lock (_sync)
        {
            idle = Array.FindAll(_connections, c => c.StreamCount == 0 && c.LastActive < idleSince);
            if (idle.Length > 0)
            {
                _connections = Array.FindAll(_connections, c => Array.IndexOf(idle, c) < 0);
            }

            empty = _connections.Length == 0 && !_connecting && LastUsed < idleSince;
            Dropped = empty;
        }

        foreach (var connection in idle)
        {
            connection.GoAway(Http2ErrorCode.NoError);
            _ = connection.FlushAndCloseAsync();
        }

        return empty;
    }

    /// <summary>Closes every connection (the proxy is stopping).</summary>
    public void Clear()
    {
        Http2UpstreamConnection[] all;
        lock (_sync)
        {
            all = _connections;
            _connections = [];
        }

        foreach (var connection in all)
        {
            connection.Abort();
        }
    }
}
