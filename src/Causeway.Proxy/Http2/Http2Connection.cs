using System.Buffers;
using System.Buffers.Binary;
using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Http2;

/// <summary>
/// One HTTP/2 connection of the proxy's, either side: reads and checks frames, answers SETTINGS and PING, keeps the
/// connection's flow-control windows and its streams, and writes frames that any thread may queue. Writes go into one
/// buffer under a lock and leave in one send per batch (<see cref="Http2Batch"/>); a single write loop drains it, so
/// the socket is written by one thread at a time and frames keep the order they were queued in.
/// </summary>
public abstract class Http2Connection : IDisposable
{
    /// <summary>The protocol's initial window and frame size before SETTINGS say otherwise (RFC 9113, section 6.5.2).</summary>
    public const int DefaultWindow = 65535;

    public const int DefaultMaxFrameSize = 16384;

    /// <summary>The client connection preface (RFC 9113, section 3.4), which also tells h2c from HTTP/1.1 on a plaintext port.</summary>
    public static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private const int FrameHeaderBytes = 9;
    private const int ReadBufferBytes = 64 * 1024;

    private readonly Stream _input;
    private readonly Stream _output;
    private readonly HpackDecoder _decoder = new();
    private readonly HeaderList _headers = new();
    private readonly Dictionary<int, Http2Stream> _streams = [];
    private List<Http2Stream> _blocked = [];
    private byte[] _out = ArrayPool<byte>.Shared.Rent(16 * 1024);
    private byte[] _spare = ArrayPool<byte>.Shared.Rent(16 * 1024);
    private int _outLength;
    private int _sendingLength;
    private bool _writing;
    private TaskCompletionSource? _roomWaiter;
    private int _sendWindow = DefaultWindow;
    private int _receiveWindow;
    private int _uncredited;
    private int _closed;

    // A header block that CONTINUATION frames are still adding to.
    private byte[]? _block;
    private int _blockLength;
    private int _blockStream;
    private bool _blockEndsStream;

    protected Http2Connection(Stream input, Stream output, Http2Limits limits)
    {
        _input = input;
        _output = output;
        Limits = limits;
        _receiveWindow = DefaultWindow;
        LastActive = Environment.TickCount64;
    }

    public Http2Limits Limits { get; }

    /// <summary>Guards the output buffer, the connection's send window and its streams.</summary>
    protected object Sync { get; } = new();

    /// <summary>The peer's SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window.</summary>
    public int PeerInitialWindow { get; private set; } = DefaultWindow;

    /// <summary>The peer's SETTINGS_MAX_FRAME_SIZE.</summary>
    public int PeerMaxFrameSize { get; private set; } = DefaultMaxFrameSize;

    /// <summary>The peer's SETTINGS_MAX_CONCURRENT_STREAMS; 100 until it says (as SocketsHttpHandler assumes), the protocol's default being unlimited.</summary>
    public int PeerMaxConcurrentStreams { get; private set; } = 100;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>When a stream last opened or ended, or the connection began (<see cref="Environment.TickCount64"/>): idle connections are closed from it.</summary>
    public long LastActive { get; protected set; }

    /// <summary>Streams open on this connection.</summary>
    public int StreamCount
    {
        get
        {
            lock (Sync)
            {
                return _streams.Count;
            }
        }
    }

    /// <summary>Completes when the read loop has ended and every stream on the connection has been told.</summary>
    public Task Completion => _completion.Task;

    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Reads frames until the connection ends; the caller has written or checked the preface.</summary>
    public async Task RunAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferBytes);
        try
        {
            await StartAsync();
            int start = 0, end = 0;
            while (true)
            {
                if (end == buffer.Length)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    (end, start) = (end - start, 0);
                }

                // A peer that does not read its answers (PING and SETTINGS acknowledgements, responses) is not read
                // either until it does: TCP then holds it back, and the proxy's memory for it stays bounded.
                await WaitForRoomAsync();

                var n = await _input.ReadAsync(buffer.AsMemory(end));
                if (n == 0)
                {
                    break;
                }

                end += n;
                Http2Batch.Enter();
                try
                {
                    while (end - start >= FrameHeaderBytes)
                    {
                        var header = buffer.AsSpan(start, FrameHeaderBytes);
                        var length = (header[0] << 16) | (header[1] << 8) | header[2];
                        if (length > DefaultMaxFrameSize)
                        {
                            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "max_frame_length_exceeded", $"a frame of {length} bytes, past the {DefaultMaxFrameSize} allowed");
                        }

                        if (end - start < FrameHeaderBytes + length)
                        {
                            break;
                        }

                        var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(header[5..]) & 0x7FFFFFFF);
                        OnFrame((Http2FrameType)header[3], header[4], streamId, buffer.AsSpan(start + FrameHeaderBytes, length));
                        start += FrameHeaderBytes + length;
                    }

                    OnBatchEnd();
                }
                finally
                {
                    Http2Batch.Exit();
                }

                if (start == end)
                {
                    start = end = 0;
                }
            }
        }
        catch (Http2ConnectionException e)
        {
            OnProtocolError(e);
            GoAway(e.Code);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The peer or the proxy closed the connection.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Close();
        }
    }

    /// <summary>Before the first frame: the client's preface is checked (server) or written (client), and SETTINGS sent.</summary>
    protected abstract Task StartAsync();

    protected abstract void OnHeaders(int streamId, bool endStream, HeaderList headers, bool tooLarge);

    /// <summary>A DATA frame's payload (padding removed) on an open stream; <paramref name="flowControlled"/> is what it took of the windows.</summary>
    protected abstract void OnData(Http2Stream stream, int streamId, ReadOnlySpan<byte> data, bool endStream, int flowControlled);

    protected abstract void OnReset(Http2Stream stream, int streamId, Http2ErrorCode code);

    protected abstract void OnGoAway(int lastStreamId, Http2ErrorCode code);

    /// <summary>The connection ended: every stream still on it is failed or reset.</summary>
    protected abstract void OnClosed(List<Http2Stream> streams);

    protected virtual void OnProtocolError(Http2ConnectionException error)
    {
    }

    /// <summary>Every frame of one read has been handled; the batch's writes have not started yet.</summary>
    protected virtual void OnBatchEnd()
    {
    }

    /// <summary>True while more is queued or being written to the socket than the reader lets wait; the caller holds <see cref="Sync"/>.</summary>
    private bool BacklogFullLocked => _outLength + _sendingLength > Limits.OutputHighWater * 4;

    private Task WaitForRoomAsync()
    {
        lock (Sync)
        {
            if (!BacklogFullLocked || IsClosed)
            {
                return Task.CompletedTask;
            }

            _roomWaiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _roomWaiter.Task;
        }
    }

    private void WakeReader()
    {
        TaskCompletionSource? waiter;
        lock (Sync)
        {
            waiter = _roomWaiter;
            if (waiter is null || (BacklogFullLocked && !IsClosed && _writing))
            {
                return;
            }

            _roomWaiter = null;
        }

        waiter.TrySetResult();
    }

    private void OnFrame(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (_block is not null && type != Http2FrameType.Continuation)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_continuation_frame", "a frame between HEADERS and its CONTINUATION");
        }

        switch (type)
        {
            case Http2FrameType.Data:
                OnDataFrame(flags, streamId, payload);
                break;
            case Http2FrameType.Headers:
                OnHeadersFrame(flags, streamId, payload);
                break;
            case Http2FrameType.Continuation:
                OnContinuation(flags, streamId, payload);
                break;
            case Http2FrameType.Priority:
                if (streamId == 0 || payload.Length != 5)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_frame_length", "a malformed PRIORITY frame");
                }

                break;
            case Http2FrameType.RstStream:
                if (streamId == 0 || payload.Length != 4)
                {
                    throw new Http2ConnectionException(payload.Length != 4 ? Http2ErrorCode.FrameSizeError : Http2ErrorCode.ProtocolError, "invalid_frame_length", "a malformed RST_STREAM frame");
                }

                if (Find(streamId) is { } reset)
                {
                    OnReset(reset, streamId, (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload));
                }

                break;
            case Http2FrameType.Settings:
                OnSettings(flags, streamId, payload);
                break;
            case Http2FrameType.PushPromise:
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "unexpected_frame", "PUSH_PROMISE, though push is disabled");
            case Http2FrameType.Ping:
                if (streamId != 0 || payload.Length != 8)
                {
                    throw new Http2ConnectionException(payload.Length != 8 ? Http2ErrorCode.FrameSizeError : Http2ErrorCode.ProtocolError, "invalid_frame_length", "a malformed PING frame");
                }

                if ((flags & Http2Flags.Ack) == 0)
                {
                    WriteFrame(Http2FrameType.Ping, Http2Flags.Ack, 0, payload);
                }

                break;
            case Http2FrameType.GoAway:
                if (streamId != 0 || payload.Length < 8)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_frame_length", "a malformed GOAWAY frame");
                }

                OnGoAway((int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF), (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload[4..]));
                break;
            case Http2FrameType.WindowUpdate:
                OnWindowUpdate(streamId, payload);
                break;
            default:
                // Unknown frame types are ignored (RFC 9113, section 4.1).
                break;
        }
    }

    private void OnDataFrame(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_stream_id", "DATA on stream 0");
        }

        if (payload.Length > _receiveWindow)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "flow_control_window_exceeded", "DATA past the connection's flow-control window");
        }

        if (Interlocked.Add(ref _receiveWindow, -payload.Length) < Limits.ConnectionWindow / 2)
        {
            // Less than half left: what was passed on but not yet credited goes back now (see Credit).
            Credit(0);
        }

        var data = Unpad(flags, payload, 0);
        var padding = payload.Length - data.Length;
        if (Find(streamId) is { } stream)
        {
            if (padding > 0)
            {
                Credit(padding);
            }

            OnData(stream, streamId, data, (flags & Http2Flags.EndStream) != 0, payload.Length);
        }
        else
        {
            // A stream the proxy already closed (it reset it, or answered it early): the bytes still count against the connection.
            Credit(payload.Length);
        }
    }

    private void OnHeadersFrame(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_stream_id", "HEADERS on stream 0");
        }

        var fragment = Unpad(flags, payload, (flags & Http2Flags.Priority) != 0 ? 5 : 0);
        var endStream = (flags & Http2Flags.EndStream) != 0;
        if ((flags & Http2Flags.EndHeaders) != 0)
        {
            DecodeBlock(streamId, endStream, fragment);
            return;
        }

        _block = ArrayPool<byte>.Shared.Rent(Math.Max(fragment.Length * 2, 4096));
        fragment.CopyTo(_block);
        _blockLength = fragment.Length;
        _blockStream = streamId;
        _blockEndsStream = endStream;
    }

    private void OnContinuation(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (_block is null || streamId != _blockStream)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_continuation_frame", "CONTINUATION without the HEADERS it continues");
        }

        if (_blockLength + payload.Length > Limits.MaxHeaderListSize + 16 * 1024)
        {
            // The block must be decoded whole or the connection's HPACK state is lost: one this long ends the connection.
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "max_request_headers_total_size", "a header block past the header list limit");
        }

        if (_blockLength + payload.Length > _block.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent((_blockLength + payload.Length) * 2);
            _block.AsSpan(0, _blockLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_block);
            _block = larger;
        }

        payload.CopyTo(_block.AsSpan(_blockLength));
        _blockLength += payload.Length;
        if ((flags & Http2Flags.EndHeaders) != 0)
        {
            var block = _block;
            _block = null;
            try
            {
                DecodeBlock(streamId, _blockEndsStream, block.AsSpan(0, _blockLength));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(block);
            }
        }
    }

    private void DecodeBlock(int streamId, bool endStream, ReadOnlySpan<byte> block)
    {
        var result = _decoder.Decode(block, _headers, Limits.MaxHeaderListSize);
        if (result == HpackResult.Invalid)
        {
            throw new Http2ConnectionException(Http2ErrorCode.CompressionError, "error_reading_headers", "a header block that is not valid HPACK");
        }

        OnHeaders(streamId, endStream, _headers, result == HpackResult.TooLarge || _headers.Count > Limits.MaxHeaderCount);
    }

    private static ReadOnlySpan<byte> Unpad(byte flags, ReadOnlySpan<byte> payload, int priorityBytes)
    {
        var padding = 0;
        if ((flags & Http2Flags.Padded) != 0)
        {
            if (payload.Length < 1)
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_data_padding", "a padded frame with no pad length");
            }

            padding = payload[0];
            payload = payload[1..];
        }

        if (padding + priorityBytes > payload.Length)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_data_padding", "padding longer than the frame");
        }

        return payload.Slice(priorityBytes, payload.Length - priorityBytes - padding);
    }

    private void OnSettings(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_stream_id", "SETTINGS on a stream");
        }

        if ((flags & Http2Flags.Ack) != 0)
        {
            if (payload.Length != 0)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "invalid_frame_length", "a SETTINGS acknowledgement with a payload");
            }

            return;
        }

        if (payload.Length % 6 != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "invalid_frame_length", "a SETTINGS frame not a whole number of settings");
        }

        var windowDelta = 0;
        List<Http2Stream>? adjusted = null;
        for (var i = 0; i < payload.Length; i += 6)
        {
            var id = BinaryPrimitives.ReadUInt16BigEndian(payload[i..]);
            var value = BinaryPrimitives.ReadUInt32BigEndian(payload[(i + 2)..]);
            switch (id)
            {
                case 0x2 when value > 1:
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_settings", "SETTINGS_ENABLE_PUSH neither 0 nor 1");
                case 0x3:
                    PeerMaxConcurrentStreams = (int)Math.Min(value, int.MaxValue);
                    break;
                case 0x4:
                    if (value > int.MaxValue)
                    {
                        throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "invalid_settings", "SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1");
                    }

                    lock (Sync)
                    {
                        // With the streams' snapshot below under the same lock, no stream opens between the change and
                        // the adjustment (it would get the new window and the delta both).
                        windowDelta += (int)value - PeerInitialWindow;
                        PeerInitialWindow = (int)value;
                        adjusted = [.. _streams.Values];
                    }

                    break;
                case 0x5:
                    if (value < DefaultMaxFrameSize || value > 16777215)
                    {
                        throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_settings", "SETTINGS_MAX_FRAME_SIZE out of range");
                    }

                    PeerMaxFrameSize = (int)value;
                    break;
            }
        }

        WriteFrame(Http2FrameType.Settings, Http2Flags.Ack, 0, []);
        if (windowDelta != 0 && adjusted is not null)
        {
            foreach (var stream in adjusted)
            {
                stream.AdjustSendWindow(this, windowDelta);
            }
        }
    }

    private void OnWindowUpdate(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "invalid_frame_length", "a WINDOW_UPDATE not 4 bytes long");
        }

        var increment = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF);
        if (streamId != 0)
        {
            if (Find(streamId) is { } stream)
            {
                if (increment == 0 || !stream.AdjustSendWindow(this, increment))
                {
                    stream.ResetFrom(this, Http2ErrorCode.FlowControlError);
                }
            }

            return;
        }

        if (increment == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_window_update_size", "a WINDOW_UPDATE of 0 for the connection");
        }

        lock (Sync)
        {
            if ((long)_sendWindow + increment > int.MaxValue)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "invalid_window_update_size", "the connection's send window past 2^31-1");
            }

            _sendWindow += increment;
        }

        ResumeBlocked();
    }

    /// <summary>Tells the streams that waited for this connection's window or socket to try again.</summary>
    private void ResumeBlocked()
    {
        List<Http2Stream> resuming;
        lock (Sync)
        {
            if (_blocked.Count == 0)
            {
                return;
            }

            // A new list: the write loop and a read loop may both be resuming, and a stream blocked again while this
            // list is walked must land in the list the next resume walks (a shared spare list lost such streams).
            resuming = _blocked;
            _blocked = [];
        }

        Http2Batch.Enter();
        try
        {
            foreach (var stream in resuming)
            {
                stream.Resume(this);
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>
    /// Gives the peer back <paramref name="bytes"/> of the connection's window once the proxy has passed them on: a
    /// WINDOW_UPDATE goes out when half the window is owed, so that a small request costs none, or as soon as less than
    /// half is left to the peer. Without the second rule the proxy deadlocked: with the rest of each connection's window
    /// held in streams waiting for the next hop, whose credit waited the same way, no hop ever reached its half.
    /// </summary>
    public void Credit(int bytes)
    {
        lock (Sync)
        {
            _uncredited += bytes;
            var half = Limits.ConnectionWindow / 2;
            if (_uncredited == 0 || (_uncredited < half && Volatile.Read(ref _receiveWindow) >= half) || IsClosed)
            {
                return;
            }

            WriteWindowUpdateLocked(0, _uncredited);
            Interlocked.Add(ref _receiveWindow, _uncredited);
            _uncredited = 0;
        }

        Http2Batch.Dirty(this);
    }

    /// <summary>Opens the connection's receive window from the protocol's 65,535 to <see cref="Http2Limits.ConnectionWindow"/>.</summary>
    protected void WriteInitialWindow()
    {
        var increment = Limits.ConnectionWindow - DefaultWindow;
        if (increment > 0)
        {
            lock (Sync)
            {
                WriteWindowUpdateLocked(0, increment);
                Interlocked.Add(ref _receiveWindow, increment);
            }
        }
    }

    public Http2Stream? Find(int streamId)
    {
        lock (Sync)
        {
            return _streams.GetValueOrDefault(streamId);
        }
    }

    protected void AddLocked(int streamId, Http2Stream stream)
    {
        _streams.Add(streamId, stream);
        LastActive = Environment.TickCount64;
    }

    /// <summary>Forgets a stream that ended on this connection.</summary>
    public void Remove(int streamId)
    {
        lock (Sync)
        {
            if (!_streams.Remove(streamId))
            {
                return;
            }

            LastActive = Environment.TickCount64;
            OnStreamRemovedLocked();
        }

        AfterStreamRemoved();
    }

    /// <summary>A stream was removed; the caller holds <see cref="Sync"/>.</summary>
    protected virtual void OnStreamRemovedLocked()
    {
    }

    /// <summary>A stream was removed; called without the lock.</summary>
    protected virtual void AfterStreamRemoved()
    {
    }

    /// <summary>The streams with ids above <paramref name="lastStreamId"/>; the caller holds <see cref="Sync"/> unless <paramref name="locked"/> is false.</summary>
    protected List<Http2Stream> StreamsAfter(int lastStreamId, bool locked = true)
    {
        if (!locked)
        {
            lock (Sync)
            {
                return StreamsAfter(lastStreamId);
            }
        }

        List<Http2Stream> after = [];
        foreach (var (id, stream) in _streams)
        {
            if (id > lastStreamId)
            {
                after.Add(stream);
            }
        }

        return after;
    }

    // ---- Writing ----

    /// <summary>Room for <paramref name="length"/> more bytes of output; the caller holds <see cref="Sync"/>.</summary>
    private Span<byte> ReserveLocked(int length)
    {
        if (_outLength + length > _out.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_out.Length * 2, _outLength + length));
            _out.AsSpan(0, _outLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_out);
            _out = larger;
        }

        return _out.AsSpan(_outLength, length);
    }

    private void WriteFrameHeaderLocked(int length, Http2FrameType type, byte flags, int streamId)
    {
        var header = ReserveLocked(FrameHeaderBytes);
        header[0] = (byte)(length >> 16);
        header[1] = (byte)(length >> 8);
        header[2] = (byte)length;
        header[3] = (byte)type;
        header[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(header[5..], (uint)streamId);
        _outLength += FrameHeaderBytes;
    }

    private void WritePayloadLocked(ReadOnlySpan<byte> payload)
    {
        payload.CopyTo(ReserveLocked(payload.Length));
        _outLength += payload.Length;
    }

    protected void WriteFrame(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        lock (Sync)
        {
            if (IsClosed)
            {
                return;
            }

            WriteFrameHeaderLocked(payload.Length, type, flags, streamId);
            WritePayloadLocked(payload);
        }

        Http2Batch.Dirty(this);
    }

    protected void WriteSettings(ReadOnlySpan<(ushort Id, uint Value)> settings)
    {
        Span<byte> payload = stackalloc byte[settings.Length * 6];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload[(i * 6)..], settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload[((i * 6) + 2)..], settings[i].Value);
        }

        WriteFrame(Http2FrameType.Settings, 0, 0, payload);
    }

    /// <summary>Writes raw bytes ahead of any frame: the client's connection preface.</summary>
    protected void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        lock (Sync)
        {
            WritePayloadLocked(bytes);
        }

        Http2Batch.Dirty(this);
    }

    private void WriteWindowUpdateLocked(int streamId, int increment)
    {
        WriteFrameHeaderLocked(4, Http2FrameType.WindowUpdate, 0, streamId);
        BinaryPrimitives.WriteUInt32BigEndian(ReserveLocked(4), (uint)increment);
        _outLength += 4;
    }

    public void WriteWindowUpdate(int streamId, int increment)
    {
        lock (Sync)
        {
            if (IsClosed)
            {
                return;
            }

            WriteWindowUpdateLocked(streamId, increment);
        }

        Http2Batch.Dirty(this);
    }

    public void WriteReset(int streamId, Http2ErrorCode code)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)code);
        WriteFrame(Http2FrameType.RstStream, 0, streamId, payload);
    }

    /// <summary>A header block as HEADERS and, past the peer's frame size, CONTINUATION frames; false if the connection is closed.</summary>
    public bool WriteHeaders(int streamId, ReadOnlySpan<byte> block, bool endStream)
    {
        lock (Sync)
        {
            if (IsClosed)
            {
                return false;
            }

            WriteHeadersLocked(streamId, block, endStream);
        }

        Http2Batch.Dirty(this);
        return true;
    }

    protected void WriteHeadersLocked(int streamId, ReadOnlySpan<byte> block, bool endStream)
    {
        var first = Math.Min(block.Length, PeerMaxFrameSize);
        var flags = (byte)((endStream ? Http2Flags.EndStream : 0) | (first == block.Length ? Http2Flags.EndHeaders : 0));
        WriteFrameHeaderLocked(first, Http2FrameType.Headers, flags, streamId);
        WritePayloadLocked(block[..first]);
        block = block[first..];
        while (block.Length > 0)
        {
            var next = Math.Min(block.Length, PeerMaxFrameSize);
            WriteFrameHeaderLocked(next, Http2FrameType.Continuation, next == block.Length ? Http2Flags.EndHeaders : (byte)0, streamId);
            WritePayloadLocked(block[..next]);
            block = block[next..];
        }
    }

    /// <summary>
    /// Writes as much of <paramref name="data"/> as the stream's window, the connection's window and the output's room
    /// allow, in frames no larger than the peer's; the bytes written, or -1 if the connection is closed. When the
    /// connection's window or room stopped it, <paramref name="stream"/> is resumed once they open.
    /// END_STREAM goes on the last frame when <paramref name="endStream"/> and everything was written.
    /// </summary>
    public int WriteData(int streamId, ReadOnlySpan<byte> data, bool endStream, int streamWindow, Http2Stream stream)
    {
        int n;
        lock (Sync)
        {
            if (IsClosed)
            {
                return -1;
            }

            var room = Math.Max(0, Limits.OutputHighWater - _outLength);
            n = Math.Min(data.Length, Math.Min(streamWindow, Math.Min(_sendWindow, room)));
            if (n < data.Length && n < streamWindow && !_blocked.Contains(stream))
            {
                _blocked.Add(stream);
            }

            if (n == 0 && (data.Length > 0 || !endStream))
            {
                return 0;
            }

            var written = 0;
            do
            {
                var frame = Math.Min(n - written, PeerMaxFrameSize);
                var last = written + frame == data.Length;
                WriteFrameHeaderLocked(frame, Http2FrameType.Data, last && endStream ? Http2Flags.EndStream : (byte)0, streamId);
                WritePayloadLocked(data.Slice(written, frame));
                written += frame;
            }
            while (written < n);

            _sendWindow -= n;
        }

        Http2Batch.Dirty(this);
        return n;
    }

    /// <summary>Sends GOAWAY with <see cref="LastStreamId"/>: the peer opens no more streams on this connection.</summary>
    public void GoAway(Http2ErrorCode code)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)LastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(payload[4..], (uint)code);
        WriteFrame(Http2FrameType.GoAway, 0, 0, payload);
    }

    /// <summary>For GOAWAY: the last stream the peer opened that the proxy took (server), 0 for a client.</summary>
    protected virtual int LastStreamId => 0;

    /// <summary>Starts the write loop if output is waiting and none runs.</summary>
    internal void Kick()
    {
        lock (Sync)
        {
            if (_writing || _outLength == 0)
            {
                return;
            }

            _writing = true;
        }

        _ = WriteLoopAsync();
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                byte[] sending;
                int length;
                lock (Sync)
                {
                    if (_outLength == 0)
                    {
                        _writing = false;
                        return;
                    }

                    (sending, length) = (_out, _outLength);
                    (_out, _outLength, _spare, _sendingLength) = (_spare, 0, sending, length);
                }

                await _output.WriteAsync(sending.AsMemory(0, length));
                lock (Sync)
                {
                    _sendingLength = 0;
                }

                WakeReader();
                ResumeBlocked();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or NotSupportedException)
        {
            lock (Sync)
            {
                _writing = false;
                _outLength = _sendingLength = 0;
            }

            Abort();
            WakeReader();
        }
    }

    /// <summary>Closes the transport, which ends the read loop; the streams are failed there.</summary>
    public virtual void Abort()
    {
        try
        {
            _input.Dispose();
            _output.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    /// <summary>Writes what is queued (a GOAWAY, say), then closes the transport.</summary>
    public async Task FlushAndCloseAsync()
    {
        Kick();
        for (var i = 0; i < 100; i++)
        {
            lock (Sync)
            {
                if (!_writing && _outLength == 0)
                {
                    break;
                }
            }

            await Task.Delay(10);
        }

        Abort();
    }

    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        List<Http2Stream> streams;
        lock (Sync)
        {
            streams = [.. _streams.Values];
            _streams.Clear();
            _blocked.Clear();
        }

        Http2Batch.Enter();
        try
        {
            OnClosed(streams);
        }
        finally
        {
            Http2Batch.Exit();
        }

        _ = FlushAndCloseAsync().ContinueWith(_ => _completion.TrySetResult(), TaskScheduler.Default);
    }

    /// <summary>The connection's windows, queues and streams, for diagnosis.</summary>
    internal string Describe()
    {
        List<Http2Stream> streams;
        string state;
        lock (Sync)
        {
            state = $"{GetType().Name}: send window {_sendWindow}, receive window {_receiveWindow}, uncredited {_uncredited}, queued {_outLength}, sending {_sendingLength}, writing {_writing}, blocked {_blocked.Count}, reader waiting {_roomWaiter is not null}, peer initial window {PeerInitialWindow}, closed {IsClosed}";
            streams = [.. _streams.Values];
        }

        return state + string.Concat(streams.Select(s => "\n  " + s.Describe()));
    }

    public void Dispose()
    {
        Abort();
        _headers.Dispose();
        GC.SuppressFinalize(this);
    }
}
