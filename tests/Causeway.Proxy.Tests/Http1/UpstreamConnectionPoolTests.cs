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
        Assert.Throws<ObjectDisposedException>(() => c.Socket.Available);
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

        // The closed one (the newest) has its read-ahead ended by the close, and is skipped.
        await Task.Delay(TimeSpan.FromMilliseconds(20));
        Assert.Same(open, pool.TryTake());
        Assert.Throws<ObjectDisposedException>(() => closed.Socket.Available);

        var (other, otherServer) = await ConnectAsync(pool);
        pool.Return(other);
        otherServer.Close();
        await Task.Delay(TimeSpan.FromMilliseconds(20));
        Assert.Equal(0, pool.CloseExpired());
        Assert.Equal(0, pool.IdleCount);
    }

    [Fact]
    public async Task AnIdleConnectionsReadAhead_IsTheReadOfItsNextResponse()
    {
        var pool = new UpstreamConnectionPool(new Http1Limits());
        var (connection, server) = await ConnectAsync(pool);
        pool.Return(connection);
        var lent = pool.TryTake()!;
        Assert.Same(connection, lent);
        await lent.Stream.WriteAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray());
        var request = new byte[64];
        Assert.Equal(18, await server.ReceiveAsync(request));
        await server.SendAsync("HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray());
        Assert.Equal(27, await lent.ReadMoreAsync(1024));
        Assert.Equal("HTTP/1.1 204 No Content\r\n\r\n", System.Text.Encoding.ASCII.GetString(lent.Unread));

        // After the read-ahead is used, reads go on as before.
        await server.SendAsync("more"u8.ToArray());
        Assert.Equal(4, await lent.ReadMoreAsync(1024));
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
        Assert.Throws<ObjectDisposedException>(() => connection.Socket.Available);

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
        Assert.Throws<ObjectDisposedException>(() => a.Socket.Available);
    }
}
