using System.Net;
using System.Net.Sockets;
using Causeway.Proxy.Http1;

namespace Causeway.Proxy.Tests.Http1;

public sealed class UpstreamConnectionPoolTests : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _accepted = [];

    public UpstreamConnectionPoolTests() => _listener.Start();

    public void Dispose()
    {
        foreach (var socket in _accepted)
        {
            socket.Dispose();
        }

        _listener.Stop();
    }

    /// <summary>A real loopback connection, and the server's end of it.</summary>
    private async Task<(UpstreamConnection Connection, Socket Server)> ConnectAsync(UpstreamConnectionPool pool)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)_listener.LocalEndpoint);
        var server = await _listener.AcceptSocketAsync();
        _accepted.Add(server);
        return (new UpstreamConnection(client, new NetworkStream(client, ownsSocket: true), pool), server);
    }

    [Fact]
    public async Task TheNewestIdleConnectionIsLentFirst_AndAFullPoolClosesWhatComesBack()
    {
        var pool = new UpstreamConnectionPool(new Http1Limits { MaxIdleUpstreamConnections = 2 });
        var (a, _) = await ConnectAsync(pool);
        var (b, _) = await ConnectAsync(pool);
        var (c, _) = await ConnectAsync(pool);
        pool.Return(a);
        pool.Return(b);
        pool.Return(c);
        Assert.Equal(2, pool.IdleCount);
        Assert.Throws<ObjectDisposedException>(() => c.Socket!.Available);
        Assert.Same(b, pool.TryTake());
        Assert.True(b.Reused);
        Assert.Same(a, pool.TryTake());
        Assert.Null(pool.TryTake());
    }

    [Fact]
    public async Task AConnectionTheOtherSideClosed_IsNeverLent_AndTheSweepClosesIt()
    {
        var pool = new UpstreamConnectionPool(new Http1Limits());
        var (open, _) = await ConnectAsync(pool);
        var (closed, server) = await ConnectAsync(pool);
        pool.Return(open);
        pool.Return(closed);
        server.Shutdown(SocketShutdown.Both);
        server.Close();

        // Past the unchecked window, the closed one (the newest) is found closed and skipped.
        await Task.Delay(TimeSpan.FromMilliseconds(20));
        Assert.Same(open, pool.TryTake());
        Assert.Throws<ObjectDisposedException>(() => closed.Socket!.Available);

        var (other, otherServer) = await ConnectAsync(pool);
        pool.Return(other);
        otherServer.Close();
        await Task.Delay(TimeSpan.FromMilliseconds(20));
        Assert.Equal(0, pool.CloseExpired());
        Assert.Equal(0, pool.IdleCount);
    }

    [Fact]
    public async Task APoolLetGo_ClosesWhatComesBackToIt()
    {
        var pool = new UpstreamConnectionPool(new Http1Limits());
        var (connection, _) = await ConnectAsync(pool);
        Assert.False(pool.TryDrop(Environment.TickCount64 - 60_000));
        Assert.True(pool.TryDrop(Environment.TickCount64 + 1));
        pool.Return(connection);
        Assert.Equal(0, pool.IdleCount);
        Assert.Throws<ObjectDisposedException>(() => connection.Socket!.Available);

        var pools = new UpstreamPools(new Http1Limits());
        var first = pools.For("127.0.0.1", 80, "");
        Assert.Same(first, pools.For("127.0.0.1", 80, ""));
        first.TryDrop(Environment.TickCount64 + 1);
        Assert.NotSame(first, pools.For("127.0.0.1", 80, ""));
    }

    [Fact]
    public async Task AConnectionIdlePastTheTimeout_IsClosedRatherThanLent()
    {
        var pool = new UpstreamConnectionPool(new Http1Limits { UpstreamIdleTimeout = TimeSpan.FromMilliseconds(50) });
        var (a, _) = await ConnectAsync(pool);
        pool.Return(a);
        Assert.Equal(1, pool.CloseExpired());
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        Assert.Null(pool.TryTake());
        Assert.Throws<ObjectDisposedException>(() => a.Socket!.Available);
    }
}
