using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Causeway.Testing;

/// <summary>
/// An HTTP/2 client that writes frames as given, well formed or not (RFC 9113), over mTLS: the attacker of the
/// reliability suite's P rows (rapid reset, HPACK bombs, CONTINUATION and control-frame floods). A background
/// reader answers SETTINGS and records what the server sent back.
/// </summary>
public sealed class Http2FrameClient : IAsyncDisposable
{
    public const byte Data = 0, Headers = 1, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, WindowUpdate = 8, Continuation = 9;
    public const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;
    public const uint Cancel = 0x8, RefusedStream = 0x7, EnhanceYourCalm = 0xb;

    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly TcpClient _tcp;
    private readonly SslStream _ssl;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _reader;
    private readonly TaskCompletionSource<(uint Error, uint LastStream)> _goAway = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<uint, int> _resets = new();
    private long _responses;
    private long _pingAcks;
    private long _bytesRead;

    private readonly TaskCompletionSource _reading = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Http2FrameClient(TcpClient tcp, SslStream ssl, bool read)
    {
        _tcp = tcp;
        _ssl = ssl;
        if (read)
        {
            _reading.SetResult();
        }

        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Starts reading what the server sent, for a client connected with <c>read: false</c> (one that does not read, as a flooder does not).</summary>
    public void StartReading() => _reading.TrySetResult();

    /// <summary>The server's SETTINGS_MAX_CONCURRENT_STREAMS, once its SETTINGS arrived.</summary>
    public uint? MaxConcurrentStreams { get; private set; }

    /// <summary>The GOAWAY the server sent: its error code and last stream.</summary>
    public Task<(uint Error, uint LastStream)> GoAwayReceived => _goAway.Task;

    /// <summary>Completes when the server closed the connection (or reset it).</summary>
    public Task Closed => _closed.Task;

    /// <summary>When the connection closed, on <see cref="Stopwatch.GetTimestamp"/>'s clock.</summary>
    public long ClosedAt { get; private set; }

    /// <summary>How many HEADERS frames (responses) the server sent.</summary>
    public long Responses => Interlocked.Read(ref _responses);

    public long PingAcks => Interlocked.Read(ref _pingAcks);

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>RST_STREAM frames from the server with this error code.</summary>
    public int Resets(uint error) => _resets.TryGetValue(error, out var n) ? n : 0;

    /// <summary>Connects over mTLS with ALPN h2, sends the preface and empty SETTINGS.</summary>
    public static async Task<Http2FrameClient> ConnectAsync(IPAddress address, int port, string sni, SslStreamCertificateContext? clientCertificate, bool read = true)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(address, port);
        var ssl = new SslStream(tcp.GetStream());
        await ssl.AuthenticateAsClientAsync(MeshTls.ClientOptions(sni, clientCertificate, SslApplicationProtocol.Http2));
        if (ssl.NegotiatedApplicationProtocol != SslApplicationProtocol.Http2)
        {
            throw new InvalidOperationException($"the server chose ALPN '{ssl.NegotiatedApplicationProtocol}', not h2");
        }

        await ssl.WriteAsync(Preface);
        await ssl.WriteAsync(Frame(Settings, 0, 0, []));
        return new Http2FrameClient(tcp, ssl, read);
    }

    /// <summary>One frame: 9-byte header and payload.</summary>
    public static byte[] Frame(byte type, byte flags, uint stream, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), stream & 0x7fffffff);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    /// <summary>An HPACK block for GET <paramref name="path"/> (static-table pseudo-headers, literals without indexing).</summary>
    public static byte[] RequestBlock(string authority, string path)
    {
        var block = new List<byte> { 0x82, 0x86 };
        Literal(block, 4, path);
        Literal(block, 1, authority);
        return [.. block];
    }

    /// <summary>A header block as HEADERS then CONTINUATION frames of at most 16 KiB, END_HEADERS on the last unless <paramref name="endHeaders"/> is false.</summary>
    public static byte[] HeaderFrames(uint stream, ReadOnlySpan<byte> block, bool endStream, bool endHeaders = true)
    {
        const int max = 16 * 1024;
        var frames = new List<byte>();
        var offset = 0;
        do
        {
            var length = Math.Min(max, block.Length - offset);
            var last = offset + length == block.Length;
            var flags = (byte)((offset == 0 && endStream ? EndStream : 0) | (last && endHeaders ? EndHeaders : 0));
            frames.AddRange(Frame(offset == 0 ? Headers : Continuation, flags, stream, block.Slice(offset, length)));
            offset += length;
        }
        while (offset < block.Length);
        return [.. frames];
    }

    /// <summary>Writes bytes (one frame or many) as one write; false when the server has closed the connection.</summary>
    public async Task<bool> TrySendAsync(ReadOnlyMemory<byte> frames, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await _ssl.WriteAsync(frames, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>HPACK integer with an N-bit prefix (RFC 7541 §5.1).</summary>
    public static void Integer(List<byte> to, byte first, int prefixBits, int value)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max)
        {
            to.Add((byte)(first | value));
            return;
        }

        to.Add((byte)(first | max));
        value -= max;
        while (value >= 128)
        {
            to.Add((byte)((value & 0x7f) | 0x80));
            value >>= 7;
        }

        to.Add((byte)value);
    }

    /// <summary>HPACK string literal, not Huffman-coded.</summary>
    public static void String(List<byte> to, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        Integer(to, 0, 7, bytes.Length);
        to.AddRange(bytes);
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        _reading.TrySetResult();
        try
        {
            await _reader;
        }
        catch (Exception)
        {
        }

        _ssl.Dispose();
        _writeLock.Dispose();
    }

    private static void Literal(List<byte> block, int nameIndex, string value)
    {
        // Literal header field without indexing, indexed name (RFC 7541 §6.2.2).
        Integer(block, 0x00, 4, nameIndex);
        String(block, value);
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[9];
        var payload = new byte[1 << 20];
        try
        {
            await _reading.Task;
            while (true)
            {
                await _ssl.ReadExactlyAsync(header);
                var length = (header[0] << 16) | (header[1] << 8) | header[2];
                var (type, flags) = (header[3], header[4]);
                var stream = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) & 0x7fffffff;
                await _ssl.ReadExactlyAsync(payload.AsMemory(0, length));
                Interlocked.Add(ref _bytesRead, 9 + length);
                switch (type)
                {
                    case Settings when (flags & Ack) == 0:
                        for (var i = 0; i + 6 <= length; i += 6)
                        {
                            if (BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i)) == 0x3)
                            {
                                MaxConcurrentStreams = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
                            }
                        }

                        // Not awaited: a flooding writer may hold the write lock until the server reads again, which it does only once we read.
                        _ = TrySendAsync(Frame(Settings, Ack, 0, []));
                        break;
                    case Headers:
                        Interlocked.Increment(ref _responses);
                        break;
                    case RstStream:
                        _resets.AddOrUpdate(BinaryPrimitives.ReadUInt32BigEndian(payload), 1, (_, n) => n + 1);
                        break;
                    case Ping when (flags & Ack) != 0:
                        Interlocked.Increment(ref _pingAcks);
                        break;
                    case GoAway:
                        _goAway.TrySetResult((BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)), BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff));
                        break;
                }
            }
        }
        catch (Exception)
        {
            // End of stream, reset or disposal: in every case the connection is over.
        }
        finally
        {
            ClosedAt = Stopwatch.GetTimestamp();
            _closed.TrySetResult();
        }
    }
}
