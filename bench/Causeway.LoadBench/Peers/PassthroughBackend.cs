using System.Net;
using System.Net.Sockets;

namespace Causeway.LoadBench.Peers;

/// <summary>
/// B6's far side of an SNI passthrough proxy: a TCP server that takes what arrives as the opening TLS record (the
/// ClientHello the proxy routed on) and one mode byte after it, then either streams bytes until the caller hangs up
/// (<see cref="Load.PassthroughLoad.Stream"/>) or answers one byte and closes first
/// (<see cref="Load.PassthroughLoad.Once"/>), so that the TIME_WAIT of the connection-rate run stays on this side.
/// It speaks no TLS: a passthrough proxy never looks past the ClientHello, and the load side's CPU stays free for moving
/// bytes.
/// </summary>
public sealed class PassthroughBackend : IAsyncDisposable
{
    private const int ChunkBytes = 64 * 1024;

    private static readonly byte[] Chunk = new byte[ChunkBytes];

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private PassthroughBackend(Socket listener)
    {
        _listener = listener;
        _accepting = Task.Run(AcceptAsync);
    }

    public IPEndPoint Endpoint => (IPEndPoint)_listener.LocalEndPoint!;

    public static PassthroughBackend Start(IPEndPoint endpoint)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(endpoint);
        listener.Listen(4096);
        return new PassthroughBackend(listener);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptAsync(_stop.Token);
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                socket.NoDelay = true;
                var head = new byte[5];
                await ReadExactlyAsync(socket, head);
                var rest = new byte[((head[3] << 8) | head[4]) + 1];
                await ReadExactlyAsync(socket, rest);
                if (rest[^1] == Load.PassthroughLoad.Once)
                {
                    await socket.SendAsync(Chunk.AsMemory(0, 1), SocketFlags.None, _stop.Token);
                    socket.Shutdown(SocketShutdown.Send);
                    return;
                }

                while (true)
                {
                    await socket.SendAsync(Chunk, SocketFlags.None, _stop.Token);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or EndOfStreamException)
            {
            }
        }
    }

    private async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            if (read == 0)
            {
                throw new EndOfStreamException();
            }

            buffer = buffer[read..];
        }
    }
}
