using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Http;
using Causeway.Proxy.Http1;
using Causeway.Proxy.Http2.Hpack;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Http2;

/// <summary>
/// One mesh HTTP/2 stream sent on to an application that speaks HTTP/1.1 (the service port is HTTP and the mesh hop
/// HTTP/2: a DestinationRule's h2UpgradePolicy, or a caller that spoke HTTP/2): the request goes as HTTP/1.1 on a
/// pooled connection to the application, its body with its content-length or chunked; the response's head comes back
/// as HEADERS, its body as DATA under the client's windows (a chunked body without its framing) and a chunked body's
/// trailers as trailing HEADERS. One task per stream works the application's side; the client connection's read loop
/// queues the request body for it, credited once the application has taken it.
/// </summary>
internal sealed class Http1ApplicationStream : Http2Stream, IHttp2ServerStream
{
    /// <summary>Request body bytes taken from the queue for one write to the application.</summary>
    private const int BodyWriteBytes = 16 * 1024;

    private readonly Http2ServerConnection _down;
    private readonly int _downId;
    private readonly Http1Forwarder _http1;
    private readonly UpstreamConnectionPool _pool;
    private readonly string _address;
    private readonly int _port;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly bool _headRequest;
    private readonly bool _chunkedRequest;
    private byte[]? _head;
    private readonly int _headLength;
    private long _requestBytesLeft;

    private Http2StreamDirection _request;
    private Http2StreamDirection _response;
    private TaskCompletionSource? _wake;
    private UpstreamConnection? _upstream;
    private bool _responseStarted;
    private bool _finished;
    private bool _aborted;
    private bool _timedOut;

    // Body bytes the last write to the application took, credited to the client once it is done.
    private int _pendingCredit;

    public Http1ApplicationStream(Http2ServerConnection down, int downId, Http1Forwarder http1, UpstreamConnectionPool pool, string address, int port, byte[] head, int headLength, bool headRequest, bool endStream, long contentLength)
    {
        _down = down;
        _downId = downId;
        _http1 = http1;
        _pool = pool;
        _address = address;
        _port = port;
        _head = head;
        _headLength = headLength;
        _headRequest = headRequest;
        _chunkedRequest = !endStream && contentLength < 0;
        _requestBytesLeft = contentLength;
        _request.Ended = endStream;
        _request.ReceiveWindow = down.Limits.StreamWindow;
        _response.SendWindow = down.PeerInitialWindow;
    }

    public ServiceRoute? Route => null;

    public int Status { get; private set; }

    public long LastActive { get; private set; } = Environment.TickCount64;

    public void Start() => _ = RunAsync();

    /// <summary>
    /// The request head for the application: request line, Host from <c>:authority</c>, the client's fields (cookies
    /// joined into one field, as HTTP/1.1 has them; <c>te</c>, hop-by-hop there, and a caller's XFCC left out), the
    /// listener's <c>x-forwarded-client-cert</c>, and chunked framing for a body of unknown length.
    /// </summary>
    public static int EncodeRequestHead(HeaderList headers, in Http2RequestHead head, bool chunked, ReadOnlySpan<byte> forwardedClientCert, out byte[] block)
    {
        var length = 64 + forwardedClientCert.Length;
        for (var i = 0; i < headers.Count; i++)
        {
            length += headers.Name(i).Length + headers.Value(i).Length + 4;
        }

        block = ArrayPool<byte>.Shared.Rent(length);
        var span = block.AsSpan();
        var w = HeadBytes.Put(headers.Value(head.Method), span);
        span[w++] = (byte)' ';
        w += HeadBytes.Put(headers.Value(head.Path), span[w..]);
        w += HeadBytes.Put(" HTTP/1.1\r\nhost: "u8, span[w..]);
        w += HeadBytes.Put(headers.Value(head.AuthorityOrHost), span[w..]);
        w += HeadBytes.Put("\r\n"u8, span[w..]);
        var cookies = false;
        for (var i = 0; i < headers.Count; i++)
        {
            var name = headers.Name(i);
            if (name[0] == (byte)':' || i == head.Host || name.SequenceEqual("te"u8) || name.SequenceEqual("x-forwarded-client-cert"u8))
            {
                continue;
            }

            if (name.SequenceEqual("cookie"u8))
            {
                cookies = true;
                continue;
            }

            w += HeadBytes.Put(name, span[w..]);
            w += HeadBytes.Put(": "u8, span[w..]);
            w += HeadBytes.Put(headers.Value(i), span[w..]);
            w += HeadBytes.Put("\r\n"u8, span[w..]);
        }

        if (cookies)
        {
            // HTTP/2 may split cookies over several fields; HTTP/1.1 has them in one (RFC 9113, section 8.2.3).
            w += HeadBytes.Put("cookie: "u8, span[w..]);
            var first = true;
            for (var i = 0; i < headers.Count; i++)
            {
                if (headers.Name(i).SequenceEqual("cookie"u8))
                {
                    w += HeadBytes.Put(first ? default : "; "u8, span[w..]);
                    w += HeadBytes.Put(headers.Value(i), span[w..]);
                    first = false;
                }
            }

            w += HeadBytes.Put("\r\n"u8, span[w..]);
        }

        w += HeadBytes.Put("x-forwarded-client-cert: "u8, span[w..]);
        w += HeadBytes.Put(forwardedClientCert, span[w..]);
        w += HeadBytes.Put("\r\n"u8, span[w..]);
        if (chunked)
        {
            w += HeadBytes.Put("transfer-encoding: chunked\r\n"u8, span[w..]);
        }

        w += HeadBytes.Put("\r\n"u8, span[w..]);
        return w;
    }

    /// <summary>Fields of one HTTP/1.1 connection that HTTP/2 forbids (RFC 9113, section 8.2.2), left out of the head and trailers passed on.</summary>
    private static bool IsHopByHop(HeaderName kind) =>
        kind is HeaderName.Connection or HeaderName.KeepAlive or HeaderName.ProxyConnection or HeaderName.TransferEncoding or HeaderName.Upgrade or HeaderName.Te;

    // ---- From the client (its connection's read loop) ----

    public void OnRequestData(ReadOnlySpan<byte> data, bool endStream, int flowControlled)
    {
        lock (this)
        {
            LastActive = Environment.TickCount64;
            if (_finished || _aborted || _response.EndSent)
            {
                _down.Credit(flowControlled);
                return;
            }

            if (flowControlled > _request.ReceiveWindow || _request.Ended)
            {
                _down.Credit(flowControlled);
                AbortLocked(flowControlled > _request.ReceiveWindow ? Http2ErrorCode.FlowControlError : Http2ErrorCode.StreamClosed);
                return;
            }

            _request.ReceiveWindow -= flowControlled;
            _request.Credit(_down, _downId, flowControlled - data.Length, connection: false, senderOpen: true);
            if (_requestBytesLeft >= 0)
            {
                _requestBytesLeft -= data.Length;
                if (_requestBytesLeft < 0 || (endStream && _requestBytesLeft > 0))
                {
                    // A body longer or shorter than its content-length is malformed (RFC 9113, section 8.1.1).
                    _down.Credit(data.Length);
                    AbortLocked(Http2ErrorCode.ProtocolError);
                    return;
                }
            }

            _request.Ended = endStream;
            (_request.Pending ??= new()).EnqueueData(data, endStream);
            WakeLocked();
        }
    }

    /// <summary>Trailers of the request: an HTTP/1.1 application is not sent them (nor is it by the HTTP/1.1 forwarder); they end the body.</summary>
    public void OnRequestTrailers(byte[] block, int length)
    {
        ArrayPool<byte>.Shared.Return(block);
        lock (this)
        {
            if (_finished || _aborted)
            {
                return;
            }

            if (_request.Ended || _requestBytesLeft > 0)
            {
                AbortLocked(Http2ErrorCode.ProtocolError);
                return;
            }

            _request.Ended = true;
            (_request.Pending ??= new()).EnqueueData([], endStream: true);
            WakeLocked();
        }
    }

    public void OnDownstreamReset()
    {
        lock (this)
        {
            if (!_finished)
            {
                _aborted = true;
                StopUpstreamLocked();
            }
        }
    }

    public void TimedOut()
    {
        lock (this)
        {
            if (!_finished && !_aborted)
            {
                _timedOut = true;
                StopUpstreamLocked();
            }
        }
    }

    internal override bool AdjustSendWindow(Http2Connection connection, int delta)
    {
        lock (this)
        {
            if (!_response.TryWiden(delta))
            {
                return false;
            }

            WakeLocked();
            return true;
        }
    }

    internal override void ResetFrom(Http2Connection connection, Http2ErrorCode code)
    {
        lock (this)
        {
            if (!_finished && !_aborted)
            {
                AbortLocked(code);
            }
        }
    }

    internal override void Resume(Http2Connection connection)
    {
        lock (this)
        {
            WakeLocked();
        }
    }

    internal override string Describe()
    {
        lock (this)
        {
            return $"stream {_downId} to an HTTP/1.1 application: request: {_request.Describe("app")}; response window {_response.SendWindow}, started {_responseStarted}, aborted {_aborted}, finished {_finished}";
        }
    }

    /// <summary>A stream error towards the client: reset there; the application's exchange stops and its connection closes.</summary>
    private void AbortLocked(Http2ErrorCode code)
    {
        _aborted = true;
        _down.WriteReset(_downId, code);
        StopUpstreamLocked();
    }

    private void StopUpstreamLocked()
    {
        // Closing the application's connection ends the task's pending read or write; it is not used again.
        _upstream?.Dispose();
        WakeLocked();
    }

    private void WakeLocked()
    {
        if (_wake is { } wake)
        {
            _wake = null;
            wake.TrySetResult();
        }
    }

    /// <summary>A task that completes at the stream's next event (body, window, reset); the caller holds the lock.</summary>
    private Task NextEventLocked() => (_wake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    // ---- The application's side ----

    private async Task RunAsync()
    {
        UpstreamConnection? upstream = null;
        Task? body = null;
        var reusable = false;
        try
        {
            (upstream, var bodySent) = await SendHeadAsync();
            if (upstream is null)
            {
                return;
            }

            if (!bodySent)
            {
                body = CopyBodyAsync(upstream.Stream);
            }

            var response = await ReadResponseHeadAsync(upstream);
            var hasBody = response.HasBody(_headRequest);
            long remaining;
            Http2Batch.Enter();
            try
            {
                // The head and the body bytes already read leave in one send, as far as the windows allow.
                SendResponseHead(upstream, response, endStream: !hasBody || (!response.Chunked && response.ContentLength == 0));
                remaining = hasBody && !response.Chunked && response.ContentLength > 0 ? SendBuffered(upstream, response.ContentLength) : response.ContentLength;
            }
            finally
            {
                Http2Batch.Exit();
            }

            if (hasBody)
            {
                if (response.Chunked)
                {
                    await RelayChunkedAsync(upstream);
                }
                else if (remaining != 0)
                {
                    await RelayLengthAsync(upstream, remaining);
                }
            }

            reusable = response.KeepAlive && !(hasBody && response.BodyUntilClose) && upstream.Start == upstream.End && body is null or { IsCompletedSuccessfully: true };
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidDataException)
        {
            await FailedAsync(e);
        }
        finally
        {
            if (body is not null)
            {
                StopBody(body);
            }

            Finish(upstream, reusable);
        }
    }

    /// <summary>
    /// Takes a pooled connection (or makes one) and writes the head, with the body when all of it is here; the connection
    /// and whether the body went too. A pooled connection that the application closed while idle fails the write: the
    /// same bytes go on a new one. No connection at all: a 502, and a null connection.
    /// </summary>
    private async Task<(UpstreamConnection? Upstream, bool BodySent)> SendHeadAsync()
    {
        byte[] buffer;
        int length;
        bool bodySent;
        lock (this)
        {
            var queued = _request.Pending?.DataBytes ?? 0;
            buffer = ArrayPool<byte>.Shared.Rent(_headLength + Math.Min(queued, BodyWriteBytes) + 32);
            _head.AsSpan(0, _headLength).CopyTo(buffer);
            length = _headLength + TakeBodyLocked(buffer.AsSpan(_headLength), out var taken, out bodySent);
            _pendingCredit = taken;
            ReturnHead();
        }

        try
        {
            for (var fresh = false; ; fresh = true)
            {
                var upstream = fresh ? null : _pool.TryTake();
                if (upstream is null)
                {
                    try
                    {
                        upstream = await _http1.ConnectAsync(_address, _port, "", _pool);
                    }
                    catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or InvalidOperationException)
                    {
                        var reason = e.GetBaseException().Message;
                        _down.ConnectFailed(null, 0, reason);
                        await ReplyAsync(502, UpstreamFailure.Body(reason));
                        return (null, false);
                    }
                }

                if (!Attach(upstream))
                {
                    upstream.Dispose();
                    return (null, false);
                }

                try
                {
                    await upstream.Stream.WriteAsync(buffer.AsMemory(0, length));
                }
                catch (Exception e) when (e is IOException or SocketException && upstream.Reused && !fresh)
                {
                    upstream.Dispose();
                    continue;
                }

                CreditTaken();
                return (upstream, bodySent);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Credits the client for the body bytes the last write took.</summary>
    private void CreditTaken()
    {
        if (_pendingCredit == 0)
        {
            return;
        }

        Http2Batch.Enter();
        try
        {
            lock (this)
            {
                if (_pendingCredit > 0 && !_finished)
                {
                    _request.Credit(_down, _downId, _pendingCredit, connection: true, senderOpen: true);
                }

                _pendingCredit = 0;
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    private bool Attach(UpstreamConnection upstream)
    {
        lock (this)
        {
            if (_aborted || _timedOut)
            {
                return false;
            }

            _upstream = upstream;
            return true;
        }
    }

    /// <summary>
    /// Copies queued body bytes into <paramref name="destination"/>, in chunks when the body is chunked, with the last
    /// chunk once the body has ended; the bytes written. <paramref name="taken"/> is the body bytes taken (to credit),
    /// <paramref name="ended"/> whether the body is now all written.
    /// </summary>
    private int TakeBodyLocked(Span<byte> destination, out int taken, out bool ended)
    {
        var w = 0;
        taken = 0;
        var pending = _request.Pending;
        var room = destination.Length - 32;
        while (pending is { IsEmpty: false } && room - w > 0)
        {
            var entry = pending.Peek();
            var n = Math.Min(entry.Length, room - w);
            if (n > 0)
            {
                if (_chunkedRequest)
                {
                    n.TryFormat(destination[w..], out var digits, "x");
                    w += digits;
                    w += HeadBytes.Put("\r\n"u8, destination[w..]);
                }

                entry.Span[..n].CopyTo(destination[w..]);
                w += n;
                if (_chunkedRequest)
                {
                    w += HeadBytes.Put("\r\n"u8, destination[w..]);
                }
            }

            pending.Advance(n);
            taken += n;
            if (n < entry.Length)
            {
                break;
            }
        }

        ended = _request.Ended && pending is null or { IsEmpty: true };
        if (ended && _chunkedRequest)
        {
            w += HeadBytes.Put("0\r\n\r\n"u8, destination[w..]);
        }

        return w;
    }

    /// <summary>The rest of a body that was not all here when the head went, written as it comes.</summary>
    private async Task CopyBodyAsync(Stream upstream)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BodyWriteBytes + 64);
        try
        {
            while (true)
            {
                int length;
                bool ended;
                Task? next = null;
                lock (this)
                {
                    if (_finished || _aborted || _timedOut)
                    {
                        return;
                    }

                    length = TakeBodyLocked(buffer.AsSpan(0, BodyWriteBytes + 64), out var taken, out ended);
                    _pendingCredit = taken;
                    if (length == 0 && !ended)
                    {
                        next = NextEventLocked();
                    }
                }

                if (next is not null)
                {
                    await next;
                    continue;
                }

                if (length > 0)
                {
                    await upstream.WriteAsync(buffer.AsMemory(0, length));
                }

                CreditTaken();
                if (ended)
                {
                    return;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Leaves a body copy still running when the response is done: it stops at its next turn once the stream has
    /// finished (or its write fails, the connection being closed rather than reused); its failure is only observed.
    /// </summary>
    private static void StopBody(Task body) => body.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);

    /// <summary>Reads up to the final response head, passing informational ones on as HEADERS.</summary>
    private async ValueTask<ResponseHead> ReadResponseHeadAsync(UpstreamConnection upstream)
    {
        var limit = _http1.Limits.MaxResponseHeadBytes;
        while (true)
        {
            var status = ResponseHeadParser.TryParse(upstream.Unread, limit, out var response);
            if (status == HeadStatus.NotHandled)
            {
                throw new InvalidDataException("the application's response head is malformed or too large");
            }

            if (status == HeadStatus.Incomplete)
            {
                var n = await upstream.ReadMoreAsync(limit);
                if (n <= 0)
                {
                    throw new InvalidDataException(n == 0 ? "the application closed the connection without a whole answer" : "the application's response head is too large");
                }

                continue;
            }

            if (response.Status == 101)
            {
                throw new InvalidDataException("the application switched protocols without being asked to");
            }

            if (!response.IsInformational)
            {
                return response;
            }

            SendResponseHead(upstream, response, endStream: false);
        }
    }

    /// <summary>A response head as HEADERS: the status, then its fields in order, names in lowercase, less the hop-by-hop ones (and Content-Length beside chunked).</summary>
    private void SendResponseHead(UpstreamConnection upstream, in ResponseHead response, bool endStream)
    {
        var data = upstream.Unread[..response.Length];
        var block = ArrayPool<byte>.Shared.Rent((response.Length * 3) + 64);
        try
        {
            var w = HpackEncoder.WriteStatus(response.Status, block);
            foreach (var field in new FieldLines(data, response.Length))
            {
                var kind = field.Kind;
                if (!IsHopByHop(kind) && !(kind == HeaderName.ContentLength && response.Chunked))
                {
                    w += HpackEncoder.WriteLiteralLowercase(field.Name, field.Value, block.AsSpan(w));
                }
            }

            upstream.Start += response.Length;
            Http2Batch.Enter();
            try
            {
                lock (this)
                {
                    if (_finished || _aborted)
                    {
                        throw new OperationCanceledException("the client reset the stream");
                    }

                    if (!_down.WriteHeaders(_downId, block.AsSpan(0, w), endStream))
                    {
                        throw new IOException("the client's connection closed");
                    }

                    LastActive = Environment.TickCount64;
                    if (!response.IsInformational)
                    {
                        _responseStarted = true;
                        Status = response.Status;
                        _response.EndSent = endStream;
                    }
                }
            }
            finally
            {
                Http2Batch.Exit();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>Relays <paramref name="remaining"/> body bytes (-1: until the application closes), ending the stream with the last.</summary>
    private async Task RelayLengthAsync(UpstreamConnection upstream, long remaining)
    {
        var untilClose = remaining < 0;
        while (true)
        {
            var take = (int)(untilClose ? upstream.End - upstream.Start : Math.Min(remaining, upstream.End - upstream.Start));
            if (!untilClose)
            {
                remaining -= take;
            }

            var last = !untilClose && remaining == 0;
            if (take > 0 || last)
            {
                await SendDataAsync(upstream.Buffer.AsMemory(upstream.Start, take), last);
            }

            upstream.Start += take;
            if (last)
            {
                return;
            }

            var n = await upstream.ReadMoreAsync(UpstreamConnection.BufferBytes);
            if (n == 0)
            {
                if (!untilClose)
                {
                    throw new InvalidDataException("the application closed the connection within its response body");
                }

                await SendDataAsync(default, endStream: true);
                return;
            }
        }
    }

    /// <summary>Relays a chunked body's data, then its trailers as HEADERS (or an empty DATA) that end the stream.</summary>
    private async Task RelayChunkedAsync(UpstreamConnection upstream)
    {
        while (true)
        {
            var line = await ReadLineAsync(upstream);
            var size = ChunkedBodyScanner.ParseSizeLine(upstream.Unread[..line]);
            if (size < 0)
            {
                throw new InvalidDataException("a malformed chunk size");
            }

            upstream.Start += line + 2;
            if (size == 0)
            {
                break;
            }

            while (size > 0)
            {
                if (upstream.Start == upstream.End && await upstream.ReadMoreAsync(UpstreamConnection.BufferBytes) == 0)
                {
                    throw new InvalidDataException("the application closed the connection within a chunk");
                }

                var take = (int)Math.Min(size, upstream.End - upstream.Start);
                await SendDataAsync(upstream.Buffer.AsMemory(upstream.Start, take), endStream: false);
                upstream.Start += take;
                size -= take;
            }

            if (await ReadLineAsync(upstream) != 0)
            {
                throw new InvalidDataException("a chunk longer than its size");
            }

            upstream.Start += 2;
        }

        // The trailer section, fields up to an empty line, encoded as it is read (the buffer is read into again).
        ArrayBufferWriter<byte>? trailers = null;
        while (true)
        {
            var line = await ReadLineAsync(upstream);
            if (line == 0)
            {
                upstream.Start += 2;
                break;
            }

            if (!HeaderNames.TrySplit(upstream.Unread[..line], out var name, out var value))
            {
                throw new InvalidDataException("a malformed trailer field");
            }

            var kind = HeaderNames.Classify(name);
            if (!IsHopByHop(kind) && kind is not (HeaderName.ContentLength or HeaderName.Host))
            {
                trailers ??= new ArrayBufferWriter<byte>();
                var fieldValue = upstream.Unread[..line][value];
                trailers.Advance(HpackEncoder.WriteLiteralLowercase(name, fieldValue, trailers.GetSpan(HpackEncoder.MaxLiteralLength(name.Length, fieldValue.Length))));
            }

            upstream.Start += line + 2;
        }

        if (trailers is null)
        {
            await SendDataAsync(default, endStream: true);
            return;
        }

        SendTrailers(trailers.WrittenSpan);
    }

    private void SendTrailers(ReadOnlySpan<byte> block)
    {
        Http2Batch.Enter();
        try
        {
            lock (this)
            {
                if (_finished || _aborted || !_down.WriteHeaders(_downId, block, endStream: true))
                {
                    throw new IOException("the client's stream or connection closed");
                }

                _response.EndSent = true;
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>The length of the line at the unread bytes' start, CRLF not counted, reading until it is all there.</summary>
    private static async ValueTask<int> ReadLineAsync(UpstreamConnection upstream)
    {
        while (true)
        {
            var end = upstream.Unread.IndexOf("\r\n"u8);
            if (end >= 0)
            {
                return end;
            }

            if (upstream.End - upstream.Start > ChunkedBodyScanner.MaxLineBytes)
            {
                throw new InvalidDataException("a chunk-size or trailer line too long");
            }

            if (await upstream.ReadMoreAsync(ChunkedBodyScanner.MaxLineBytes * 2) <= 0)
            {
                throw new InvalidDataException("the application closed the connection within a chunked body");
            }
        }
    }

    /// <summary>Body bytes to the client as its windows allow, waiting for them to open; END_STREAM with the last when <paramref name="endStream"/>.</summary>
    private async ValueTask SendDataAsync(ReadOnlyMemory<byte> data, bool endStream)
    {
        while (true)
        {
            Task next;
            Http2Batch.Enter();
            try
            {
                lock (this)
                {
                    data = data[WriteDataLocked(data.Span, endStream)..];
                    if (data.IsEmpty)
                    {
                        return;
                    }

                    next = NextEventLocked();
                }
            }
            finally
            {
                Http2Batch.Exit();
            }

            await next;
        }
    }

    /// <summary>Sends what the windows allow of the body bytes already read, up to <paramref name="remaining"/>; what is left of the body.</summary>
    private long SendBuffered(UpstreamConnection upstream, long remaining)
    {
        var take = (int)Math.Min(remaining, upstream.End - upstream.Start);
        if (take == 0)
        {
            return remaining;
        }

        int n;
        lock (this)
        {
            n = WriteDataLocked(upstream.Unread[..take], endStream: take == remaining);
        }

        upstream.Start += n;
        return remaining - n;
    }

    /// <summary>Writes what the client's windows allow of <paramref name="data"/>; the bytes written. END_STREAM goes with the last when <paramref name="endStream"/>.</summary>
    private int WriteDataLocked(ReadOnlySpan<byte> data, bool endStream)
    {
        if (_finished || _aborted)
        {
            throw new OperationCanceledException("the client reset the stream");
        }

        var n = _down.WriteData(_downId, data, endStream, _response.SendWindow, this);
        if (n < 0)
        {
            throw new IOException("the client's connection closed");
        }

        LastActive = Environment.TickCount64;
        _response.SendWindow -= n;
        if (n == data.Length)
        {
            _response.EndSent = endStream;
        }

        return n;
    }

    /// <summary>The exchange with the application failed: before the response, the client gets a 502 (504 past the stream idle timeout); after, a reset.</summary>
    private async Task FailedAsync(Exception error)
    {
        bool started;
        lock (this)
        {
            if (_aborted)
            {
                return;
            }

            started = _responseStarted;
        }

        var reason = error.GetBaseException().Message;
        _http1.Logger.LogWarning("A request to the application on port {Port} failed: {Reason}", _port, reason);
        if (!started)
        {
            await ReplyAsync(_timedOut ? 504 : 502, _timedOut ? "causeway: stream timeout\n" : UpstreamFailure.Body(reason));
            return;
        }

        Http2Batch.Enter();
        try
        {
            lock (this)
            {
                _aborted = true;
                _down.WriteReset(_downId, _timedOut ? Http2ErrorCode.Cancel : Http2ErrorCode.InternalError);
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>The proxy's own answer, before any of the application's: a status and a short text saying why.</summary>
    private async Task ReplyAsync(int status, string body)
    {
        var text = System.Text.Encoding.ASCII.GetBytes(body);
        if (!WriteReplyHead(status, text.Length))
        {
            return;
        }

        try
        {
            await SendDataAsync(text, endStream: true);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client went away while the answer waited for its window: nothing is left to tell it.
        }
    }

    /// <summary>Writes the local answer's HEADERS (with END_STREAM when there is no body); false when the stream is already over.</summary>
    private bool WriteReplyHead(int status, int bodyLength)
    {
        Span<byte> head = stackalloc byte[64];
        var length = Http2Headers.EncodeLocalReply(status, bodyLength, head);
        Http2Batch.Enter();
        try
        {
            lock (this)
            {
                if (_finished || _aborted || !_down.WriteHeaders(_downId, head[..length], endStream: bodyLength == 0))
                {
                    return false;
                }

                Status = status;
                _response.EndSent = bodyLength == 0;
                return true;
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>The stream is over: the application's connection back to its pool when clean, the client's window given back, the request recorded.</summary>
    private void Finish(UpstreamConnection? upstream, bool reusable)
    {
        Http2Batch.Enter();
        try
        {
            lock (this)
            {
                _finished = true;
                upstream ??= _upstream;
                _upstream = null;
                if (!_request.Ended && !_aborted && _response.EndSent)
                {
                    // A request still coming after the whole response is stopped without error (RFC 9113, section 8.1).
                    _down.WriteReset(_downId, Http2ErrorCode.NoError);
                }

                if (_request.Pending is not null)
                {
                    _down.Credit(_request.Pending.Clear());
                }

                ReturnHead();
                WakeLocked();
            }

            _down.Remove(_downId);
        }
        finally
        {
            Http2Batch.Exit();
        }

        if (upstream is not null)
        {
            if (reusable)
            {
                (upstream.Start, upstream.End) = (0, 0);
                _pool.Return(upstream);
            }
            else
            {
                upstream.Dispose();
            }
        }

        _down.Record(this, null, _started);
    }

    private void ReturnHead()
    {
        if (_head is not null)
        {
            ArrayPool<byte>.Shared.Return(_head);
            _head = null;
        }
    }
}
