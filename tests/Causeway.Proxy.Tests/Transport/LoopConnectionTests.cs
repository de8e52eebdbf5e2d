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
