using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Causeway.Proxy.Transport;

namespace Causeway.Proxy.Tests.Transport;

/// <summary>
/// A connection accepted on an event loop and spliced to an upstream socket on the same loop, as the east-west gateway
/// does, in the kernel and through a buffer, between a plain .NET client and a plain .NET upstream on loopback.
/// </summary>
public sealed class LoopSpliceTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly EventLoop _loop = new("loop-splice-test");
    private readonly ReadinessSocket _listener;
    private readonly Socket _upstreamListener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public LoopSpliceTests()
    {
        var listening = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listening.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listening.Listen(16);
        _listener = ReadinessSocket.Listening(listening, _loop);
        _upstreamListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _upstreamListener.Listen(16);
    }

    /// <summary>A client, its connection accepted on the loop, an upstream connection on the same loop, and the upstream's far end.</summary>
    private async Task<(Socket Client, ReadinessSocket Server, ReadinessSocket Upstream, Socket Backend)> ConnectAsync()
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(_listener.Socket!.LocalEndPoint!);
        var fd = await _listener.AcceptAsync().AsTask().WaitAsync(Patience);
        var server = ReadinessSocket.Adopt(fd, _loop);
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);
        var accepting = _upstreamListener.AcceptAsync();
        var upstream = await ReadinessSocket.ConnectAsync((IPEndPoint)_upstreamListener.LocalEndPoint!, _loop, CancellationToken.None).AsTask().WaitAsync(Patience);
        return (client, server, upstream, await accepting.WaitAsync(Patience));
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Patience);
            if (n == 0)
            {
                return received.ToArray();
            }

            received.Write(buffer, 0, n);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var data = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(data.AsMemory(read)).AsTask().WaitAsync(Patience);
            Assert.NotEqual(0, n);
            read += n;
        }

        return data;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ManyMegabytesCrossBothWaysAtOnce_AndEachEndHalfCloses(bool zeroCopy)
    {
        var (client, server, upstream, backend) = await ConnectAsync();
        using var _ = client;
        using var __ = backend;
        using var ___ = server;
        using var ____ = upstream;
        var splicing = LoopSplice.RunAsync(server, upstream, zeroCopy);

        var up = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var down = RandomNumberGenerator.GetBytes(6 * 1024 * 1024 + 17);
        var sendingUp = Task.Run(async () =>
        {
            await client.SendAsync(up);
            client.Shutdown(SocketShutdown.Send);
        });
        var sendingDown = Task.Run(async () => await backend.SendAsync(down));
        Assert.Equal(up, await ReadToEndAsync(backend));
        await sendingUp.WaitAsync(Patience);

        // Half-closed one way, the other way still carries the answer, then closes too.
        var reading = ReadToEndAsync(client);
        await sendingDown.WaitAsync(Patience);
        await backend.SendAsync("bye"u8.ToArray());
        backend.Shutdown(SocketShutdown.Send);
        var (received, sent) = await splicing.WaitAsync(Patience);
        Assert.Equal(up.Length, received);
        Assert.Equal(down.Length + 3, sent);

        // The direction that ended last leaves its FIN to the owner's close: every byte, then a clean end, not a reset.
        server.Dispose();
        upstream.Dispose();
        Assert.Equal(down.Concat("bye"u8.ToArray()).ToArray(), await reading);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AnUpstreamReset_EndsBothDirections_AndTheClientsConnection(bool zeroCopy)
    {
        var (client, server, upstream, backend) = await ConnectAsync();
        using var _ = client;
        using var __ = server;
        using var ___ = upstream;
        var splicing = LoopSplice.RunAsync(server, upstream, zeroCopy);
        await client.SendAsync("hello"u8.ToArray());
        Assert.Equal("hello"u8.ToArray(), await ReadExactlyAsync(backend, 5));

        backend.LingerState = new LingerOption(true, 0);
        backend.Dispose();
        // Neither direction waits on the other: the client is idle, yet its side of the splice ends.
        await splicing.WaitAsync(Patience);
        try
        {
            Assert.Equal(0, await client.ReceiveAsync(new byte[16].AsMemory()).AsTask().WaitAsync(Patience));
        }
        catch (SocketException e)
        {
            Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
        }
    }

    [Fact]
    public async Task PipesGoBackToThePool_AfterAConnectionThatEndedCleanly()
    {
        for (var i = 0; i < KernelPipe.MaxPooled + 4; i++)
        {
            var (client, server, upstream, backend) = await ConnectAsync();
            using var _ = client;
            using var __ = backend;
            using var ___ = server;
            using var ____ = upstream;
            var splicing = LoopSplice.RunAsync(server, upstream, zeroCopy: true);
            await client.SendAsync(new byte[] { 1 });
            client.Shutdown(SocketShutdown.Send);
            await backend.SendAsync(new byte[] { 2 });
            backend.Shutdown(SocketShutdown.Send);
            Assert.Equal((1L, 1L), await splicing.WaitAsync(Patience));
            server.Dispose();
            upstream.Dispose();
            Assert.Equal([1], await ReadToEndAsync(backend));
            Assert.Equal([2], await ReadToEndAsync(client));
        }

        Assert.InRange(KernelPipe.Pooled, 1, KernelPipe.MaxPooled);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _upstreamListener.Dispose();
        _loop.Dispose();
    }
}
