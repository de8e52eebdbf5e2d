using System.Buffers;

namespace Causeway.Proxy.Http1;

/// <summary>
/// One HTTP/1.1 connection from the sidecar to an upstream (an application, or a peer sidecar or gateway over mTLS),
/// with the buffer its responses are read into. It carries one request at a time and goes back to its
/// <see cref="UpstreamConnectionPool"/> when a response ended cleanly.
/// </summary>
public sealed class UpstreamConnection : IDisposable
{
    /// <summary>The read buffer's size: a small response arrives whole in one read.</summary>
    public const int BufferBytes = 16 * 1024;

    private readonly Transport.ReadinessSocket? _readiness;

    // Set when Stream is the plain ReadinessStream over _readiness: reads then go to the socket itself, one async level
    // less per response than through the stream's wrapper.
    private readonly Transport.ReadinessSocket? _plaintext;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
    private int _disposed;

    public UpstreamConnection(System.Net.Sockets.Socket socket, Stream stream, UpstreamConnectionPool pool)
    {
        Socket = socket;
        Stream = stream;
        Pool = pool;
    }

    /// <summary>A connection on an event loop, which knows without a system call whether the application sent anything.</summary>
    public UpstreamConnection(Transport.ReadinessSocket socket, Stream stream, UpstreamConnectionPool pool)
    {
        _readiness = socket;
        _plaintext = stream is Transport.ReadinessStream plain && plain.Socket == socket ? socket : null;
        Socket = socket.Socket;
        Stream = stream;
        Pool = pool;
    }

    /// <summary>The TCP connection under <see cref="Stream"/> (which may be TLS over it), when it is a .NET socket.</summary>
    public System.Net.Sockets.Socket? Socket { get; }

    public Stream Stream { get; }

    public UpstreamConnectionPool Pool { get; }

    /// <summary>True once the connection has carried a request: a failure before any answer may then be the application having closed it while idle.</summary>
    public bool Reused { get; set; }

    /// <summary>When it went back to the pool, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    public long ReturnedAt { get; set; }

    /// <summary>Unread response bytes: Buffer[Start..End].</summary>
    public int Start { get; set; }

    public int End { get; set; }

    public byte[] Buffer => _buffer;

    public ReadOnlySpan<byte> Unread => _buffer.AsSpan(Start, End - Start);

    /// <summary>Reads more of the response after what is unread (see <see cref="Room"/>); 0 at end of stream, -1 when the buffer is full at <paramref name="limit"/>.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReadMoreAsync(int limit)
    {
        var room = Room(limit);
        if (room.IsEmpty)
        {
            return -1;
        }

        var n = await ReceiveAsync(room);
        End += n;
        return n;
    }

    /// <summary>
    /// The free space after what is unread, made by moving the unread bytes to the front or growing the buffer up to
    /// <paramref name="limit"/> when full; empty when the buffer is full at the limit. What is read into it is added with
    /// <see cref="End"/>.
    /// </summary>
    public Memory<byte> Room(int limit)
    {
        if (Start > 0)
        {
            _buffer.AsSpan(Start, End - Start).CopyTo(_buffer);
            (End, Start) = (End - Start, 0);
        }

        if (End == _buffer.Length)
        {
            if (_buffer.Length >= limit)
            {
                return Memory<byte>.Empty;
            }

            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 4, _buffer.Length * 4));
            _buffer.AsSpan(0, End).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        return _buffer.AsMemory(End);
    }

    /// <summary>Reads from the upstream into <paramref name="buffer"/>; 0 at end of stream. Fails with an <see cref="IOException"/> or, on an event loop's plain connection, a <see cref="System.Net.Sockets.SocketException"/>.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer) => _plaintext is not null ? _plaintext.ReceiveAsync(buffer) : Stream.ReadAsync(buffer);

    /// <summary>
    /// False when an idle connection has something to read: the application closed it (or sent what it should not) while
    /// it sat in the pool, as Envoy learns from its event loop. On an event loop, what the loop's last edge said; on .NET's
    /// sockets, one poll(2), without waiting.
    /// </summary>
    public bool IsIdleAndOpen()
    {
        if (_readiness is not null)
        {
            return !_readiness.MayHaveInput;
        }

        try
        {
            return !Socket!.Poll(0, System.Net.Sockets.SelectMode.SelectRead);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Stream.Dispose();
        // The buffer is not returned to the pool: a read may still be writing into it when a timeout disposes the stream.
    }
}
