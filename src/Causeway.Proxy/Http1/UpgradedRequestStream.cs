using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Tasks.Sources;
using Causeway.Proxy.Http;
using Causeway.Proxy.Http2;
using Causeway.Proxy.Http2.Hpack;
using Microsoft.AspNetCore.WebUtilities;

namespace Causeway.Proxy.Http1;

/// <summary>
/// One HTTP/1.1 client's request sent on as a stream of an upstream HTTP/2 connection, for a mesh hop that the service's
/// DestinationRule upgrades (Istio's h2UpgradePolicy) or whose port speaks HTTP/2: the head goes as one HPACK block, the
/// body as DATA under the stream's and the connection's windows, and the response comes back to the client as HTTP/1.1
/// (its Content-Length kept, else chunked, with trailers when chunked). The response is written into the client's
/// pipe by the upstream connection's read loop itself, and the client connection's task resumes there once the
/// response is whole, so that no thread sits between the two connections. Bytes are credited to the upstream once the
/// client's pipe has taken them, so a slow client holds back its own stream, not the proxy's memory. A body buffered
/// whole stays the client connection's, which sends the request again elsewhere when the upstream refuses it; a body
/// read on as it arrives is copied (as far as <see cref="Http2Limits.RetryBufferBytes"/>) until the response starts,
/// and this stream sends it again itself on a new stream of the pool.
/// </summary>
public sealed class UpgradedRequestStream : Http2UpstreamStream, IValueTaskSource
{
    /// <summary>Request body bytes a streamed body may have waiting for the upstream's windows before the client is read again.</summary>
    private const int BodyHighWater = 64 * 1024;

    private readonly Http1ClientConnection _client;
    private readonly PipeWriter _output;
    private readonly Http2UpstreamPool _pool;
    private readonly bool _headRequest;
    private readonly bool _closeClient;
    private readonly bool _headOnly;
    private readonly bool _bodyStreamed;
    private byte[]? _head;
    private readonly int _headLength;

    // A body the client's buffer holds whole; the buffer stays the client connection's, unconsumed, until this stream completes.
    private ReadOnlySequence<byte> _body;

    // A streamed body, copied until the response starts: the client's pipe has let go of it, and a refused stream needs it again.
    private Http2RequestCopy _copy;
    private readonly int _maxRetries;
    private int _attempt;

    private ManualResetValueTaskSourceCore<bool> _done;
    private Http2UpstreamConnection? _up;
    private int _upId;
    private bool _upOpen;
    private Http2StreamDirection _request;
    private Http2StreamDirection _response;
    private TaskCompletionSource? _roomWaiter;

    private bool _headWritten;
    private bool _chunked;
    private bool _noBody;
    private long _bodyLeft = -1;
    private bool _finished;

    // While a flush of the client's pipe is pending, its owner is the flush's continuation and what comes meanwhile waits here.
    private bool _flushing;
    private ArrayBufferWriter<byte>? _held;
    private int _uncredited;

    internal UpgradedRequestStream(Http1ClientConnection client, PipeWriter output, Http2UpstreamPool pool, ReadOnlySpan<byte> head, in RequestHead request, ReadOnlySequence<byte> wholeBody, bool closeClient, int maxRetries)
    {
        _client = client;
        _maxRetries = maxRetries;
        _output = output;
        _pool = pool;
        _headRequest = request.IsHeadMethod(head);
        _closeClient = closeClient;
        _bodyStreamed = request.ContentLength > 0 && wholeBody.Length != request.ContentLength;
        _headOnly = request.ContentLength == 0;
        _body = _bodyStreamed ? default : wholeBody;
        _head = ArrayPool<byte>.Shared.Rent(RequestHeadParser.MaxHttp2Length(request.Length));
        _headLength = RequestHeadParser.WriteHttp2(head, request, _head);
    }

    /// <summary>The final response's status once its head went to the client; 0 before.</summary>
    public int Status { get; private set; }

    /// <summary>No connection to the upstream could be made for the first try: nothing reached it, and another endpoint may be tried.</summary>
    public bool Unreached { get; private set; }

    /// <summary>The upstream refused the stream unprocessed (REFUSED_STREAM, or past its GOAWAY) while the client connection still holds the request whole: safe to send again.</summary>
    public bool Refused { get; private set; }

    /// <summary>Something of the response (an informational head at least) went to the client.</summary>
    public bool ResponseStarted { get; private set; }

    /// <summary>True when the response went to the client whole.</summary>
    public bool Completed { get; private set; }

    /// <summary>Why the exchange failed, when it did.</summary>
    public string Error { get; private set; } = "";

    /// <summary>Completes when the stream has ended, whole or not; the client connection's task resumes on the thread that ended it.</summary>
    public ValueTask Completion => new(this, _done.Version);

    /// <summary>Opens the stream on a pooled connection with room, or waits for one the pool makes.</summary>
    public void Start()
    {
        Http2Batch.Enter();
        try
        {
            lock (this)
            {
                if (!_finished && !_pool.TryOpen(this))
                {
                    _pool.Wait(this);
                }
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>Request body bytes of a streamed body, in order; false once the stream no longer takes them.</summary>
    public bool SendBody(in ReadOnlySequence<byte> data, bool endStream)
    {
        Http2Batch.Enter();
        try
        {
            lock (this)
            {
                if (_finished || _response.Ended)
                {
                    return false;
                }

                if (!ResponseStarted)
                {
                    foreach (var segment in data)
                    {
                        _copy.AddBody(segment.Span, _pool.Limits.RetryBufferBytes);
                    }
                }

                _request.Ended |= endStream;
                SendLocked(_upOpen ? _up : null, data, endStream);
                return true;
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>Body bytes on to the upstream as far as the windows allow, the rest queued (all of it while the stream is not open: <paramref name="to"/> null).</summary>
    private void SendLocked(Http2Connection? to, in ReadOnlySequence<byte> data, bool endStream)
    {
        if (data.IsEmpty)
        {
            if (endStream)
            {
                _request.SendOrQueue(to, _upId, this, null, 0, [], endStream: true, senderOpen: true);
            }

            return;
        }

        var left = data.Length;
        foreach (var segment in data)
        {
            if (!segment.IsEmpty)
            {
                left -= segment.Length;
                _request.SendOrQueue(to, _upId, this, null, 0, segment.Span, endStream && left == 0, senderOpen: true);
            }
        }
    }

    /// <summary>Completes once the stream is open and its queued body is under the high-water mark, or the stream has ended.</summary>
    public Task WaitForRoomAsync()
    {
        lock (this)
        {
            if (HasRoomLocked)
            {
                return Task.CompletedTask;
            }

            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _roomWaiter.Task;
        }
    }

    private bool HasRoomLocked => _finished || _response.Ended || (_upOpen && (_request.Pending?.DataBytes ?? 0) < BodyHighWater);

    private void WakeRoomWaiterLocked()
    {
        if (_roomWaiter is { } waiter && HasRoomLocked)
        {
            _roomWaiter = null;
            waiter.TrySetResult();
        }
    }

    /// <summary>The client connection timed out or went away: the upstream stream is cancelled.</summary>
    public void Cancel(string reason)
    {
        bool done;
        lock (this)
        {
            if (_finished)
            {
                return;
            }

            Error = reason;
            done = FinishLocked();
        }

        Complete(done);
    }

    internal override bool TryOpenOnLocked(Http2UpstreamConnection up)
    {
        if (_finished)
        {
            return true;
        }

        var id = OpenOnLocked(up, _head.AsSpan(0, _headLength), _headOnly, ref _request, ref _response);
        if (id == 0)
        {
            return false;
        }

        (_up, _upId, _upOpen) = (up, id, true);
        if (!_body.IsEmpty)
        {
            SendLocked(up, _body, endStream: true);
            _body = default;
        }
        else if (_bodyStreamed)
        {
            // What the client sent while the connection was being made.
            _request.Pump(up, id, this, null, 0, senderOpen: true);
        }

        WakeRoomWaiterLocked();
        return true;
    }

    internal override void OnConnectFailed(string reason)
    {
        bool done;
        lock (this)
        {
            if (_finished)
            {
                return;
            }

            // A retry's body was read from the client already: the client connection cannot send it elsewhere.
            Unreached = _attempt == 0;
            Error = reason;
            done = FinishLocked();
        }

        Complete(done);
    }

    internal override void OnResponseHeaders(HeaderList fields, bool endStream, bool tooLarge)
    {
        lock (this)
        {
            if (_finished || !_upOpen)
            {
                return;
            }

            _client.Progressed();
            if (_headWritten)
            {
                if (!endStream || _response.Ended || (_bodyLeft > 0) || !TryWriteTrailersLocked(fields))
                {
                    UpstreamMalformedLocked("the upstream's trailers are malformed");
                    return;
                }

                _response.Ended = true;
            }
            else
            {
                var status = fields.Count > 0 && fields.Name(0).SequenceEqual(":status"u8) ? Http2Headers.ParseStatus(fields.Value(0)) : 0;
                if (status == 0 || status == 101 || tooLarge || (status < 200 && endStream) || !TryWriteHeadLocked(fields, status, endStream))
                {
                    UpstreamMalformedLocked("the upstream's response head is malformed");
                    return;
                }

                ResponseStarted = true;
                _copy.Release();
                if (status >= 200)
                {
                    _headWritten = true;
                    _response.Ended = endStream;
                    Status = status;
                    ReturnHead();
                }
            }

            if (_flushing)
            {
                return;
            }

            _flushing = true;
        }

        Flush();
    }

    internal override void OnResponseData(ReadOnlySpan<byte> data, bool endStream, int flowControlled)
    {
        lock (this)
        {
            var up = _up!;
            if (_finished || !_upOpen)
            {
                up.Credit(flowControlled);
                return;
            }

            if (!_headWritten || _response.Ended || flowControlled > _response.ReceiveWindow || (_noBody && data.Length > 0))
            {
                up.Credit(flowControlled);
                UpstreamMalformedLocked(flowControlled > _response.ReceiveWindow ? "the upstream overran its flow-control window" : "the upstream sent DATA out of place", Http2ErrorCode.ProtocolError);
                return;
            }

            _client.Progressed();
            _response.ReceiveWindow -= flowControlled;
            _response.Credit(up, _upId, flowControlled - data.Length, connection: false, senderOpen: true);
            if (_bodyLeft >= 0)
            {
                _bodyLeft -= data.Length;
                if (_bodyLeft < 0 || (endStream && _bodyLeft > 0))
                {
                    up.Credit(data.Length);
                    UpstreamMalformedLocked("the upstream's body does not match its content-length");
                    return;
                }
            }

            if (_chunked && data.Length > 0)
            {
                Span<byte> size = stackalloc byte[10];
                data.Length.TryFormat(size, out var digits, "x");
                EmitLocked(size[..digits]);
                EmitLocked("\r\n"u8);
                EmitLocked(data);
                EmitLocked("\r\n"u8);
            }
            else
            {
                EmitLocked(data);
            }

            if (endStream)
            {
                if (_chunked)
                {
                    EmitLocked("0\r\n\r\n"u8);
                }

                _response.Ended = true;
            }

            _uncredited += data.Length;
            if (_flushing)
            {
                return;
            }

            _flushing = true;
        }

        Flush();
    }

    internal override void OnUpstreamReset(Http2ErrorCode code) => UpstreamEnded(code == Http2ErrorCode.RefusedStream, $"the upstream reset the stream ({code})");

    internal override void OnUpstreamLost(bool refused) => UpstreamEnded(refused, refused ? "the upstream's GOAWAY left the stream out" : "the upstream connection closed");

    private void UpstreamEnded(bool refused, string reason)
    {
        bool done;
        lock (this)
        {
            if (_finished || !_upOpen)
            {
                return;
            }

            DetachUpstreamLocked();
            if (_response.Ended)
            {
                // The response is whole and still going to the client: the upstream only stopped the request, as a server may.
                return;
            }

            if (refused && !ResponseStarted && _bodyStreamed && !_copy.Lost && _attempt < _maxRetries)
            {
                RetryLocked();
                return;
            }

            Refused = refused && !ResponseStarted && !_bodyStreamed;
            Error = reason;
            done = FinishLocked();
        }

        Complete(done);
    }

    /// <summary>
    /// Sends a refused stream's request again on the pool (Istio's refused-stream retry): its head, and its body as copied
    /// so far in place of what was still queued for the refused stream; what the client sends meanwhile queues behind.
    /// </summary>
    private void RetryLocked()
    {
        _attempt++;
        _copy.RequeueOn(ref _request, senderCredited: false);
        (_upId, _request.EndSent) = (0, false);
        if (!_pool.TryOpen(this))
        {
            _pool.Wait(this);
        }
    }

    internal override bool AdjustSendWindow(Http2Connection connection, int delta)
    {
        lock (this)
        {
            if (connection == _up && _upOpen)
            {
                if (!_request.TryWiden(delta))
                {
                    return false;
                }

                PumpRequestLocked();
            }

            return true;
        }
    }

    internal override void ResetFrom(Http2Connection connection, Http2ErrorCode code)
    {
        lock (this)
        {
            if (!_finished && connection == _up && _upOpen)
            {
                UpstreamMalformedLocked($"a stream error ({code})", code);
            }
        }
    }

    internal override void Resume(Http2Connection connection)
    {
        lock (this)
        {
            if (connection == _up && _upOpen)
            {
                PumpRequestLocked();
            }
        }
    }

    private void PumpRequestLocked()
    {
        if (!_finished)
        {
            _request.Pump(_up!, _upId, this, null, 0, senderOpen: true);
            WakeRoomWaiterLocked();
        }
    }

    internal override string Describe()
    {
        lock (this)
        {
            return $"upgraded HTTP/1.1 stream {_upId} (attempt {_attempt + 1}): up open {_upOpen}, request: {_request.Describe("up")}; response: head written {_headWritten}, ended {_response.Ended}, flushing {_flushing}, uncredited {_uncredited}, finished {_finished}";
        }
    }

    // ---- The response, into the client's pipe ----

    /// <summary>The final or an informational head as HTTP/1.1; false when a field is malformed.</summary>
    private bool TryWriteHeadLocked(HeaderList fields, int status, bool endStream)
    {
        var informational = status < 200;
        long contentLength = -1;
        var length = 64;
        for (var i = 1; i < fields.Count; i++)
        {
            var name = fields.Name(i);
            var value = fields.Value(i);
            if (!Http2Headers.IsValidField(name, value) || name[0] == (byte)':')
            {
                return false;
            }

            if (name.SequenceEqual("content-length"u8))
            {
                var parsed = HeaderNames.ParseLength(value);
                if (parsed < 0 || (contentLength >= 0 && parsed != contentLength))
                {
                    return false;
                }

                contentLength = parsed;
            }

            length += name.Length + value.Length + 4;
        }

        if (!informational)
        {
            _noBody = _headRequest || status is 204 or 304;
            if (!_noBody && contentLength > 0 && endStream)
            {
                return false;
            }

            _bodyLeft = _noBody ? -1 : contentLength;
        }

        var reason = ReasonPhrases.GetReasonPhrase(status);
        var target = Target;
        var head = target.GetSpan(length + reason.Length);
        var w = 0;
        "HTTP/1.1 "u8.CopyTo(head);
        w += 9;
        status.TryFormat(head[w..], out var digits);
        w += digits;
        head[w++] = (byte)' ';
        w += Encoding.ASCII.GetBytes(reason, head[w..]);
        w += HeadBytes.Put("\r\n"u8, head[w..]);
        for (var i = 1; i < fields.Count; i++)
        {
            w += HeadBytes.Put(fields.Name(i), head[w..]);
            w += HeadBytes.Put(": "u8, head[w..]);
            w += HeadBytes.Put(fields.Value(i), head[w..]);
            w += HeadBytes.Put("\r\n"u8, head[w..]);
        }

        if (!informational)
        {
            if (!_noBody && contentLength < 0)
            {
                _chunked = !endStream;
                w += HeadBytes.Put(endStream ? "content-length: 0\r\n"u8 : "transfer-encoding: chunked\r\n"u8, head[w..]);
            }

            if (_closeClient)
            {
                w += HeadBytes.Put("connection: close\r\n"u8, head[w..]);
            }
        }

        w += HeadBytes.Put("\r\n"u8, head[w..]);
        target.Advance(w);
        return true;
    }

    /// <summary>Trailers, as the chunked body's trailer section (a Content-Length body has no room for them, and they are dropped); false when one is malformed.</summary>
    private bool TryWriteTrailersLocked(HeaderList fields)
    {
        for (var i = 0; i < fields.Count; i++)
        {
            if (!Http2Headers.IsValidField(fields.Name(i), fields.Value(i)) || fields.Name(i)[0] == (byte)':')
            {
                return false;
            }
        }

        if (!_chunked)
        {
            return true;
        }

        EmitLocked("0\r\n"u8);
        for (var i = 0; i < fields.Count; i++)
        {
            EmitLocked(fields.Name(i));
            EmitLocked(": "u8);
            EmitLocked(fields.Value(i));
            EmitLocked("\r\n"u8);
        }

        EmitLocked("\r\n"u8);
        return true;
    }

    /// <summary>Where bytes for the client go: its pipe, or the stream's own buffer while a flush of the pipe is pending.</summary>
    private IBufferWriter<byte> Target => _flushing ? (_held ??= new ArrayBufferWriter<byte>()) : _output;

    private void EmitLocked(ReadOnlySpan<byte> bytes) => Target.Write(bytes);

    /// <summary>Flushes what the stream wrote; the caller set <see cref="_flushing"/>, which makes it the pipe's one writer until done.</summary>
    private void Flush()
    {
        while (true)
        {
            ValueTask<FlushResult> flush;
            try
            {
                flush = _output.FlushAsync();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                ClientLost();
                return;
            }

            if (!flush.IsCompletedSuccessfully)
            {
                _ = FlushSlowlyAsync(flush);
                return;
            }

            if (!AfterFlush(flush.Result))
            {
                return;
            }
        }
    }

    private async Task FlushSlowlyAsync(ValueTask<FlushResult> flush)
    {
        FlushResult result;
        try
        {
            result = await flush;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            ClientLost();
            return;
        }

        Http2Batch.Enter();
        try
        {
            if (AfterFlush(result))
            {
                Flush();
            }
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>A flush ended: what it carried is credited, and what came meanwhile written; true when that needs flushing in turn.</summary>
    private bool AfterFlush(FlushResult result)
    {
        if (result.IsCompleted || result.IsCanceled)
        {
            ClientLost();
            return false;
        }

        bool done;
        lock (this)
        {
            if (_finished)
            {
                _flushing = false;
                return false;
            }

            if (_uncredited > 0 && _up is { } up)
            {
                _response.Credit(up, _upId, _uncredited, connection: true, senderOpen: _upOpen);
                _uncredited = 0;
            }

            if (_held is { WrittenCount: > 0 } held)
            {
                _output.Write(held.WrittenSpan);
                held.ResetWrittenCount();
                return true;
            }

            _flushing = false;
            if (!_response.Ended)
            {
                return false;
            }

            Completed = true;
            done = FinishLocked();
        }

        Complete(done);
        return false;
    }

    private void ClientLost()
    {
        bool done;
        lock (this)
        {
            _flushing = false;
            if (_finished)
            {
                return;
            }

            Error = "the client went away";
            done = FinishLocked();
        }

        Complete(done);
    }

    // ---- Ending ----

    /// <summary>The upstream broke the protocol on this stream: reset there; the client gets a 502, or its connection closes once its response has begun.</summary>
    private void UpstreamMalformedLocked(string error, Http2ErrorCode code = Http2ErrorCode.ProtocolError)
    {
        _up!.WriteReset(_upId, code);
        DetachUpstreamLocked();
        Error = error;
        // The lock is held: the client connection's task must not resume inside it, so its completion is queued.
        if (FinishLocked())
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Complete(true), this, preferLocal: true);
        }
    }

    private void DetachUpstreamLocked()
    {
        if (_upOpen)
        {
            _upOpen = false;
            _up!.Remove(_upId);
        }
    }

    /// <summary>Ends the stream once: the upstream's stream cancelled if still open, what is owed credited back; true the one time it ends.</summary>
    private bool FinishLocked()
    {
        if (_finished)
        {
            return false;
        }

        _finished = true;
        if (_upOpen)
        {
            if (!_request.EndSent || !_response.Ended)
            {
                _up!.WriteReset(_upId, Http2ErrorCode.Cancel);
            }

            DetachUpstreamLocked();
        }

        _request.Pending?.Clear();
        if (_uncredited > 0)
        {
            _up?.Credit(_uncredited);
            _uncredited = 0;
        }

        _body = default;
        _copy.Release();
        ReturnHead();
        if (_roomWaiter is { } waiter)
        {
            _roomWaiter = null;
            waiter.TrySetResult();
        }

        return true;
    }

    /// <summary>Resumes the client connection's task, outside every lock.</summary>
    private void Complete(bool done)
    {
        if (done)
        {
            _done.SetResult(true);
        }
    }

    private void ReturnHead()
    {
        if (_head is not null)
        {
            ArrayPool<byte>.Shared.Return(_head);
            _head = null;
        }
    }

    void IValueTaskSource.GetResult(short token) => _done.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _done.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _done.OnCompleted(continuation, state, token, flags);
}
