using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Causeway.Proxy.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Causeway.Proxy.Tests.Transport;

/// <summary>Connections accepted by the loop transport, as Kestrel would use them, against a plain .NET client socket.</summary>
public sealed class LoopConnectionTests : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly LoopConnectionListener _listener = new(new IPEndPoint(IPAddress.Loopback, 0), new LoopTransportOptions { InlineScheduling = true });

    private async Task<(ConnectionContext Server, Socket Client)> ConnectAsync()
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(_listener.EndPoint);
        var server = await _listener.AcceptAsync().AsTask().WaitAsync(Patience);
        Assert.NotNull(server);
        return (server, client);
    }

    [Fact]
    public async Task BytesCrossBothPipes_AClientsFinCompletesTheInput_AndCompletingTheOutputClosesTheConnection()
    {
        var (server, client) = await ConnectAsync();
        using var _ = client;
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);
        Assert.Equal(client.LocalEndPoint, server.Features.Get<IConnectionSocketFeature>()!.Socket.RemoteEndPoint);

        await client.SendAsync("ping"u8.ToArray());
        var read = await server.Transport.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal("ping"u8.ToArray(), read.Buffer.ToArray());
        server.Transport.Input.AdvanceTo(read.Buffer.End);

        await server.Transport.Output.WriteAsync("pong"u8.ToArray());
        var answer = new byte[16];
        Assert.Equal(4, await client.ReceiveAsync(answer.AsMemory()).AsTask().WaitAsync(Patience));

        client.Shutdown(SocketShutdown.Send);
        var end = await server.Transport.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.True(end.IsCompleted);
        Assert.True(end.Buffer.IsEmpty);
        server.Transport.Input.AdvanceTo(end.Buffer.End);
        await WaitUntilAsync(() => server.ConnectionClosed.IsCancellationRequested);

        await server.Transport.Output.CompleteAsync();
        Assert.Equal(0, await client.ReceiveAsync(answer.AsMemory()).AsTask().WaitAsync(Patience));
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task ManyMegabytes_ThroughAnApplicationThatReadsSlowly_ArriveWhole()
    {
        var (server, client) = await ConnectAsync();
        using var _ = client;
        var data = new byte[4 * 1024 * 1024];
        new Random(3).NextBytes(data);
        var sending = client.SendAsync(data);

        var received = new MemoryStream();
        while (received.Length < data.Length)
        {
            var result = await server.Transport.Input.ReadAsync().AsTask().WaitAsync(Patience);
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            server.Transport.Input.AdvanceTo(result.Buffer.End);
            // Slow enough that the input pipe fills and the receive loop pauses several times.
            await Task.Delay(1);
        }

        await sending.WaitAsync(Patience);
        Assert.Equal(data, received.ToArray());
        await server.Transport.Output.CompleteAsync();
        await server.Transport.Input.CompleteAsync();
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task Abort_ClosesTheClientsConnection_AndEndsTheInput()
    {
        var (server, client) = await ConnectAsync();
        using var _ = client;
        var reading = server.Transport.Input.ReadAsync().AsTask();
        server.Abort(new ConnectionAbortedException("test"));

        var buffer = new byte[16];
        Assert.Equal(0, await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Patience));
        await Assert.ThrowsAsync<ConnectionAbortedException>(() => reading.WaitAsync(Patience));
        await WaitUntilAsync(() => server.ConnectionClosed.IsCancellationRequested);
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task CancelPendingRead_EndsAWaitingReadAsCanceled_AndTheNextReadGetsTheBytes()
    {
        var (server, client) = await ConnectAsync();
        using var _ = client;
        var input = server.Transport.Input;
        var waiting = input.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted, "nothing was sent");

        input.CancelPendingRead();
        var canceled = await waiting.WaitAsync(Patience);
        Assert.True(canceled.IsCanceled);
        Assert.False(canceled.IsCompleted);
        input.AdvanceTo(canceled.Buffer.Start);

        await client.SendAsync("late"u8.ToArray());
        var read = await input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.False(read.IsCanceled);
        Assert.Equal("late"u8.ToArray(), read.Buffer.ToArray());
        input.AdvanceTo(read.Buffer.End);

        // Canceled with no read waiting: the next read says so at once.
        input.CancelPendingRead();
        Assert.True((await input.ReadAsync().AsTask().WaitAsync(Patience)).IsCanceled);
        server.Abort();
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task AReadsToken_EndsItWithOperationCanceled_AndTheConnectionReadsOnAfterwards()
    {
        var (server, client) = await ConnectAsync();
        using var _ = client;
        var input = server.Transport.Input;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(50)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => input.ReadAsync(timeout.Token).AsTask().WaitAsync(Patience));
        }

        await client.SendAsync("still here"u8.ToArray());
        var read = await input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal("still here"u8.ToArray(), read.Buffer.ToArray());
        input.AdvanceTo(read.Buffer.End);
        server.Abort();
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task ARequestHeadInPieces_IsReadWhole_WhenTheApplicationExaminesWithoutConsuming()
    {
        var (server, client) = await ConnectAsync();
        using var _ = client;
        var input = server.Transport.Input;
        var head = "GET / HTTP/1.1\r\nHost: x\r\n" + new string('a', 10_000) + "\r\n\r\n";
        var bytes = System.Text.Encoding.ASCII.GetBytes(head);
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < bytes.Length; i += 1000)
            {
                await client.SendAsync(bytes.AsMemory(i, Math.Min(1000, bytes.Length - i)));
                await Task.Delay(2);
            }
        });

        ReadResult result;
        while (true)
        {
            result = await input.ReadAsync().AsTask().WaitAsync(Patience);
            if (result.Buffer.Length >= bytes.Length)
            {
                break;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }

        Assert.Equal(bytes, result.Buffer.ToArray());
        input.AdvanceTo(result.Buffer.End);
        await sending;
        server.Abort();
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task ManyMegabytesOut_ToAClientThatReadsSlowly_ArriveWholeAndInOrder()
    {
        var (server, client) = await ConnectAsync();
        using var _ = client;
        var data = new byte[8 * 1024 * 1024];
        new Random(5).NextBytes(data);
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < data.Length; i += 64 * 1024)
            {
                var result = await server.Transport.Output.WriteAsync(data.AsMemory(i, 64 * 1024));
                Assert.False(result.IsCompleted);
            }

            await server.Transport.Output.CompleteAsync();
        });

        var received = new MemoryStream();
        var buffer = new byte[32 * 1024];
        while (true)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Patience);
            if (n == 0)
            {
                break;
            }

            received.Write(buffer, 0, n);
            if (received.Length % (1024 * 1024) < n)
            {
                await Task.Delay(5);
            }
        }

        await writing.WaitAsync(Patience);
        Assert.Equal(data, received.ToArray());
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task AClientThatCloses_WhileTheApplicationIsNotReading_FiresConnectionClosed()
    {
        var (server, client) = await ConnectAsync();
        await client.SendAsync("request"u8.ToArray());
        var read = await server.Transport.Input.ReadAsync().AsTask().WaitAsync(Patience);
        server.Transport.Input.AdvanceTo(read.Buffer.End);

        // The application is busy (no read waits), as Kestrel is while a handler runs: the loop's hang-up edge tells it.
        client.Dispose();
        await WaitUntilAsync(() => server.ConnectionClosed.IsCancellationRequested);
        server.Abort();
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "it never happened");
            await Task.Delay(5);
        }
    }

    public async ValueTask DisposeAsync() => await _listener.DisposeAsync();
}
