using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Causeway.Proxy.Transport;
using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Tests.Transport;

/// <summary>
/// A loop connection handed over mid-stream and spliced to an upstream socket, as the east-west gateway does, between a
/// plain .NET client and a plain .NET upstream on loopback.
/// </summary>
public sealed class ZeroCopySpliceTests : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly LoopConnectionListener _listener = new(new IPEndPoint(IPAddress.Loopback, 0), new LoopTransportOptions());
    private readonly Socket _upstreamListener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public ZeroCopySpliceTests()
    {
        _upstreamListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _upstreamListener.Listen(16);
    }

    /// <summary>A client connected to the loop listener, its server side, and an upstream connection on the same loop with its far end.</summary>
    private async Task<(Socket Client, ConnectionContext Server, ReadinessSocket Upstream, Socket Backend)> ConnectAsync()
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(_listener.EndPoint);
        var server = await _listener.AcceptAsync().AsTask().WaitAsync(Patience);
        Assert.NotNull(server);
        var loop = server.Features.Get<IReadinessSocketFeature>()!.Loop;
        var accepting = _upstreamListener.AcceptAsync();
        var upstream = await ReadinessSocket.ConnectAsync((IPEndPoint)_upstreamListener.LocalEndPoint!, loop, CancellationToken.None).AsTask().WaitAsync(Patience);
        return (client, server, upstream, await accepting.WaitAsync(Patience));
    }

    /// <summary>Stops the connection's receiving and splices it to <paramref name="upstream"/>, as the gateway does once it has routed.</summary>
    private static async Task<Task<(long Received, long Sent)>> HandOverAsync(ConnectionContext server, ReadinessSocket upstream)
    {
        var socket = await server.Features.Get<IReadinessSocketFeature>()!.StopReceivingAsync().AsTask().WaitAsync(Patience);
        return ZeroCopySplice.RunAsync(socket, server.Transport.Input, upstream);
    }

    /// <summary>Ends both sides as the gateway does after a splice: the upstream closed, the client's connection done.</summary>
    private static async Task CloseAsync(ConnectionContext server, ReadinessSocket upstream)
    {
        upstream.Dispose();
        await server.Transport.Output.CompleteAsync();
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    /// <summary>Reads as the gateway reads a ClientHello: the bytes stay unconsumed in the input for the hand-over.</summary>
    private static async Task PeekAsync(PipeReader input, int count)
    {
        while (true)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(Patience);
            if (result.Buffer.Length >= count)
            {
                input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
                return;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
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

    [Fact]
    public async Task ManyMegabytesCrossBothWaysAtOnce_TheBytesReceivedBeforeTheHandOverFirst_AndEachEndHalfCloses()
    {
        var (client, server, upstream, backend) = await ConnectAsync();
        using var _ = client;
        using var __ = backend;
        var early = "ClientHello"u8.ToArray();
        await client.SendAsync(early);
        await PeekAsync(server.Transport.Input, early.Length);

        // The client is idle when its connection stops receiving: the receive loop waits for bytes that do not come.
        var splicing = await HandOverAsync(server, upstream);

        var up = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var down = RandomNumberGenerator.GetBytes(6 * 1024 * 1024 + 17);
        var sendingUp = Task.Run(async () =>
        {
            await client.SendAsync(up);
            client.Shutdown(SocketShutdown.Send);
        });
        var sendingDown = Task.Run(async () => await backend.SendAsync(down));
        var atBackend = await ReadToEndAsync(backend);
        Assert.Equal(early.Concat(up).ToArray(), atBackend);
        await sendingUp.WaitAsync(Patience);

        // Half-closed one way, the other way still carries the answer, then closes too.
        await sendingDown.WaitAsync(Patience);
        await backend.SendAsync("bye"u8.ToArray());
        backend.Shutdown(SocketShutdown.Send);
        Assert.Equal(down.Concat("bye"u8.ToArray()).ToArray(), await ReadToEndAsync(client));

        var (received, sent) = await splicing.WaitAsync(Patience);
        Assert.Equal(early.Length + up.Length, received);
        Assert.Equal(down.Length + 3, sent);
        await CloseAsync(server, upstream);
    }

    [Fact]
    public async Task AConnectionWhoseInputIsFull_StopsReceiving_AndNothingIsLostOrReordered()
    {
        var (client, server, upstream, backend) = await ConnectAsync();
        using var _ = client;
        using var __ = backend;
        // Three times what the connection buffers before it stops reading (1 MiB): its receive loop waits on the reader.
        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var sending = Task.Run(async () =>
        {
            await client.SendAsync(data);
            client.Shutdown(SocketShutdown.Send);
        });
        await PeekAsync(server.Transport.Input, 1024 * 1024);

        var splicing = await HandOverAsync(server, upstream);
        Assert.Equal(data, await ReadToEndAsync(backend).WaitAsync(Patience));
        await sending.WaitAsync(Patience);
        backend.Shutdown(SocketShutdown.Send);
        Assert.Empty(await ReadToEndAsync(client));
        Assert.Equal((data.Length, 0L), await splicing.WaitAsync(Patience));
        await CloseAsync(server, upstream);
    }

    [Fact]
    public async Task AnUpstreamReset_EndsBothDirections_AndTheClientsConnection()
    {
        var (client, server, upstream, backend) = await ConnectAsync();
        using var _ = client;
        await client.SendAsync("hello"u8.ToArray());
        await PeekAsync(server.Transport.Input, 5);
        var splicing = await HandOverAsync(server, upstream);
        Assert.Equal("hello"u8.ToArray(), await ReadExactlyAsync(backend, 5));

        backend.LingerState = new LingerOption(true, 0);
        backend.Dispose();
        // Neither direction waits on the other: the client is idle, yet its side of the splice ends.
        await splicing.WaitAsync(Patience);
        await CloseAsync(server, upstream);
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
            await client.SendAsync(new byte[] { 1 });
            await PeekAsync(server.Transport.Input, 1);
            var splicing = await HandOverAsync(server, upstream);
            client.Shutdown(SocketShutdown.Send);
            await backend.SendAsync(new byte[] { 2 });
            backend.Shutdown(SocketShutdown.Send);
            Assert.Equal([1], await ReadToEndAsync(backend));
            Assert.Equal([2], await ReadToEndAsync(client));
            Assert.Equal((1L, 1L), await splicing.WaitAsync(Patience));
            await CloseAsync(server, upstream);
        }

        Assert.InRange(KernelPipe.Pooled, 1, KernelPipe.MaxPooled);
    }

    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync();
        _upstreamListener.Dispose();
    }
}
