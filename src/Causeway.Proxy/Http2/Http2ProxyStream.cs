using System.Buffers;
using System.Diagnostics;
using Causeway.Proxy.Http;
using Causeway.Proxy.Http2.Hpack;
using Causeway.Proxy.LoadBalancing;

namespace Causeway.Proxy.Http2;

/// <summary>
/// One request proxied from a client's HTTP/2 stream to an upstream's: the two stream ids, each direction's windows
/// and what waits for them, and the attempt (endpoint, upstream connection) it is on. Both connections' read loops and
/// the pool's connect completions call in; every call takes the stream's lock, and then at most a connection's (never
/// the other way round), so that the two directions cannot deadlock.
/// </summary>
internal sealed class Http2ProxyStream : Http2UpstreamStream, IHttp2ServerStream
{
    private readonly Http2ServerConnection _down;
    private readonly int _downId;
    private readonly long _started = Stopwatch.GetTimestamp();

    // The request head for the upstream, kept until the response starts, as a retry sends it again.
    private byte[]? _head;
    private readonly int _headLength;

    // True when the client's HEADERS ended the request: nothing but the head to send again on another attempt.
    private readonly bool _headOnly;

    // The body and trailers, kept with the head for the same reason, as far as Http2Limits.RetryBufferBytes allows.
    private Http2RequestCopy _copy;

    private Http2UpstreamConnection? _up;
    private int _upId;
    private bool _upOpen;
    private UpstreamEndpoint? _endpoint;
    private UpstreamEndpoint? _previous;
    private int _attempt;

    // Request: client to upstream.
    private Http2StreamDirection _request;
    private long _requestBytesLeft;
    private bool _requestDropped;

    // Response: upstream to client.
    private Http2StreamDirection _response;
    private bool _responseStarted;

    // The response is the proxy's own (ReplyLocked): its bytes came from no peer, so none is credited for them.
    private bool _localResponse;

    private bool _finished;

    internal Http2ProxyStream(Http2ServerConnection down, int downId, byte[]? head, int headLength, bool endStream, long contentLength)
    {
        _down = down;
        _downId = downId;
        _head = head;
        _headLength = headLength;
        _headOnly = endStream;
        _request.Ended = endStream;
        _requestBytesLeft = contentLength;
        _request.ReceiveWindow = down.Limits.StreamWindow;
        _response.SendWindow = down.PeerInitialWindow;
    }

    /// <summary>The mesh service the request is for (outbound), when known.</summary>
    public Configuration.ServiceRoute? Route { get; internal set; }

    /// <summary>The response status passed on or answered, 0 before one.</summary>
    public int Status { get; private set; }

    /// <summary>When a frame of the stream last came either way (<see cref="Environment.TickCount64"/>).</summary>
    public long LastActive { get; private set; } = Environment.TickCount64;

    /// <summary>Picks an endpoint and opens the request on an upstream connection, or waits for one.</summary>
    public void Start()
    {
        lock (this)
        {
            if (!_finished)
            {
                StartAttemptLocked();
            }
        }
    }

    /// <summary>No byte moved either way for the stream idle timeout: 504 (408 while the request was still coming) before an answer, else a reset.</summary>
    public void TimedOut()
    {
        lock (this)
        {
            if (_finished)
            {
                return;
            }

            if (!_responseStarted)
            {
                ReplyLocked(_request.Ended ? 504 : 408, "causeway: stream timeout\n");
                return;
            }

            FinishLocked(resetDown: Http2ErrorCode.Cancel);
        }
    }

    private void StartAttemptLocked()
    {
        if (!_down.TryChoose(this, _previous, out var pool, out var endpoint))
        {
            ReplyLocked(503, "no healthy upstream\n");
            return;
        }

        _endpoint = endpoint;
        endpoint?.RequestStarted();
        if (!pool.TryOpen(this))
        {
            pool.Wait(this);
        }
    }

    /// <summary>Answers the request itself, as its listener decided (no route, denied, malformed).</summary>
    internal void Reply(int status, string body)
    {
        lock (this)
        {
            ReplyLocked(status, body);
        }
    }

    /// <summary>Opens the request on <paramref name="up"/> if it has room; the caller holds this stream's lock.</summary>
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
        PumpRequestLocked();
        return true;
    }

    /// <summary>The upstream connection could not be made: nothing reached the application, so another endpoint may be tried.</summary>
    internal override void OnConnectFailed(string reason)
    {
        lock (this)
        {
            if (_finished)
            {
                return;
            }

            _down.ConnectFailed(_endpoint, _attempt, reason);
            if (_endpoint is not null && _attempt < _down.MaxRetries)
            {
                RetryLocked();
                return;
            }

            ReplyLocked(502, UpstreamFailure.Body(reason));
        }
    }

    private void RetryLocked()
    {
        _endpoint?.RequestEnded();
        (_previous, _endpoint) = (_endpoint, null);
        _attempt++;
        (_up, _upId, _upOpen, _request.EndSent) = (null, 0, false, false);
        StartAttemptLocked();
    }

    // ---- From the client ----

    public void OnRequestData(ReadOnlySpan<byte> data, bool endStream, int flowControlled)
    {
        lock (this)
        {
            LastActive = Environment.TickCount64;
            if (_finished || _requestDropped)
            {
                _down.Credit(flowControlled);
                return;
            }

            if (flowControlled > _request.ReceiveWindow || _request.Ended)
            {
                _down.Credit(flowControlled);
                ResetLocked(flowControlled > _request.ReceiveWindow ? Http2ErrorCode.FlowControlError : Http2ErrorCode.StreamClosed);
                return;
            }

            _request.ReceiveWindow -= flowControlled;
            // Padding is credited at once; and with less than half the window left, what was passed on (see CreditRequestLocked).
            CreditRequestLocked(flowControlled - data.Length, connection: false);

            if (_requestBytesLeft >= 0)
            {
                _requestBytesLeft -= data.Length;
                if (_requestBytesLeft < 0 || (endStream && _requestBytesLeft > 0))
                {
                    // A body longer or shorter than its content-length is malformed (RFC 9113, section 8.1.1).
                    _down.Credit(data.Length);
                    ResetLocked(Http2ErrorCode.ProtocolError);
                    return;
                }
            }

            _request.Ended = endStream;
            if (!_responseStarted)
            {
                _copy.AddBody(data, _down.Limits.RetryBufferBytes);
            }

            if (_request.SendOrQueue(_upOpen ? _up : null, _upId, this, _down, _downId, data, endStream, senderOpen: true))
            {
                TryFinishLocked();
            }
        }
    }

    public void OnRequestTrailers(byte[] block, int length)
    {
        lock (this)
        {
            try
            {
                if (_finished || _requestDropped)
                {
                    return;
                }

                if (_request.Ended || (_requestBytesLeft > 0))
                {
                    ResetLocked(Http2ErrorCode.ProtocolError);
                    return;
                }

                _request.Ended = true;
                if (!_responseStarted)
                {
                    _copy.AddTrailers(block.AsSpan(0, length));
                }

                if (_request.SendOrQueueHeaders(_upOpen ? _up : null, _upId, block.AsSpan(0, length), endStream: true))
                {
                    TryFinishLocked();
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(block);
            }
        }
    }

    /// <summary>The client reset the stream, or its connection ended.</summary>
    public void OnDownstreamReset()
    {
        lock (this)
        {
            if (!_finished)
            {
                FinishLocked(resetDown: null);
            }
        }
    }

    // ---- From the upstream ----

    internal override void OnResponseHeaders(HeaderList fields, bool endStream, bool tooLarge)
    {
        lock (this)
        {
            LastActive = Environment.TickCount64;
            if (_finished || !_upOpen)
            {
                return;
            }

            if (_responseStarted)
            {
                OnResponseTrailersLocked(fields, endStream);
                return;
            }

            var status = fields.Count > 0 && fields.Name(0).SequenceEqual(":status"u8) ? Http2Headers.ParseStatus(fields.Value(0)) : 0;
            if (status == 0 || status == 101 || tooLarge || (status < 200 && endStream))
            {
                UpstreamMalformedLocked();
                return;
            }

            if (!Http2Headers.TryEncodeResponse(fields, status, out var block, out var length))
            {
                UpstreamMalformedLocked();
                return;
            }

            if (status >= 200)
            {
                _responseStarted = true;
                Status = status;
                _endpoint?.Succeeded();
                ReturnRequestCopy();
                _response.Ended = endStream;
            }

            SendResponseHeadersLocked(block, length, endStream);
        }
    }

    private void OnResponseTrailersLocked(HeaderList fields, bool endStream)
    {
        if (!endStream || _response.Ended || !Http2Headers.TryEncodeResponse(fields, 0, out var block, out var length))
        {
            UpstreamMalformedLocked();
            return;
        }

        _response.Ended = true;
        SendResponseHeadersLocked(block, length, endStream: true);
    }

    private void SendResponseHeadersLocked(byte[] block, int length, bool endStream)
    {
        try
        {
            if (_response.SendOrQueueHeaders(_down, _downId, block.AsSpan(0, length), endStream))
            {
                TryFinishLocked();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    internal override void OnResponseData(ReadOnlySpan<byte> data, bool endStream, int flowControlled)
    {
        lock (this)
        {
            LastActive = Environment.TickCount64;
            var up = _up!;
            if (_finished || !_upOpen)
            {
                up.Credit(flowControlled);
                return;
            }

            if (!_responseStarted || _response.Ended || flowControlled > _response.ReceiveWindow)
            {
                up.Credit(flowControlled);
                UpstreamMalformedLocked(flowControlled > _response.ReceiveWindow ? Http2ErrorCode.FlowControlError : Http2ErrorCode.ProtocolError);
                return;
            }

            _response.ReceiveWindow -= flowControlled;
            CreditResponseLocked(flowControlled - data.Length, connection: false);

            _response.Ended = endStream;
            if (_response.SendOrQueue(_down, _downId, this, up, _upId, data, endStream, senderOpen: _upOpen))
            {
                TryFinishLocked();
            }
        }
    }

    /// <summary>The upstream reset the stream.</summary>
    internal override void OnUpstreamReset(Http2ErrorCode code)
    {
        lock (this)
        {
            if (_finished || !_upOpen)
            {
                return;
            }

            DetachUpstreamLocked();
            UpstreamEndedLocked(refused: code == Http2ErrorCode.RefusedStream, code);
        }
    }

    /// <summary>The upstream connection ended, or its GOAWAY left this stream out (<paramref name="refused"/>: never processed).</summary>
    internal override void OnUpstreamLost(bool refused)
    {
        lock (this)
        {
            if (_finished || !_upOpen)
            {
                return;
            }

            // Off the connection's map too: a stream its GOAWAY left out may still get its RST_STREAM there, which must
            // not reach this stream once it is retried on another connection (it took that reset for the new one's).
            DetachUpstreamLocked();
            UpstreamEndedLocked(refused, Http2ErrorCode.InternalError);
        }
    }

    private void UpstreamEndedLocked(bool refused, Http2ErrorCode code)
    {
        if (!_responseStarted)
        {
            // A refused stream was never processed: safe to send again whole (Istio's refused-stream retry), while the
            // copy of the request holds all of it.
            if (refused && !_copy.Lost && _attempt < _down.MaxRetries)
            {
                if (!_headOnly)
                {
                    _copy.RequeueOn(ref _request, senderCredited: true);
                }

                RetryLocked();
                return;
            }

            ReplyLocked(502, UpstreamFailure.Body(refused ? UpstreamFailure.RefusedStream : UpstreamFailure.RemoteReset));
            return;
        }

        if (_response.Ended)
        {
            // The response is whole (perhaps still going out); the upstream only stopped the request, as a server may.
            DropRequestLocked();
            TryFinishLocked();
            return;
        }

        FinishLocked(resetDown: code == Http2ErrorCode.NoError ? Http2ErrorCode.InternalError : code);
    }

    /// <summary>The upstream broke the protocol on this stream: it is reset there, and the client gets a 502 or a reset.</summary>
    private void UpstreamMalformedLocked(Http2ErrorCode code = Http2ErrorCode.ProtocolError)
    {
        _up!.WriteReset(_upId, code);
        DetachUpstreamLocked();
        if (!_responseStarted)
        {
            ReplyLocked(502, UpstreamFailure.Body(UpstreamFailure.ProtocolError));
            return;
        }

        FinishLocked(resetDown: Http2ErrorCode.InternalError);
    }

    // ---- Either side ----

    /// <summary>A window update came for this stream on <paramref name="connection"/>; false if it overflowed the window.</summary>
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
            else if (connection == _down)
            {
                if (!_response.TryWiden(delta))
                {
                    return false;
                }

                PumpResponseLocked();
            }

            return true;
        }
    }

    /// <summary>A stream error found on <paramref name="connection"/>'s side: reset there, and the other side told.</summary>
    internal override void ResetFrom(Http2Connection connection, Http2ErrorCode code)
    {
        lock (this)
        {
            if (_finished)
            {
                return;
            }

            if (connection == _down)
            {
                ResetLocked(code);
            }
            else if (_upOpen)
            {
                UpstreamMalformedLocked(code);
            }
        }
    }

    /// <summary>The connection's window or socket has room again.</summary>
    internal override void Resume(Http2Connection connection)
    {
        lock (this)
        {
            if (connection == _up)
            {
                PumpRequestLocked();
            }

            if (connection == _down)
            {
                PumpResponseLocked();
            }
        }
    }

    private void PumpRequestLocked()
    {
        if (_upOpen && _request.Pump(_up!, _upId, this, _down, _downId, senderOpen: true))
        {
            TryFinishLocked();
        }
    }

    private void PumpResponseLocked()
    {
        if (!_finished && _response.Pump(_down, _downId, this, ResponseSender, _upId, senderOpen: _upOpen))
        {
            TryFinishLocked();
        }
    }

    private void CreditRequestLocked(int bytes, bool connection) => _request.Credit(_down, _downId, bytes, connection, senderOpen: true);

    private void CreditResponseLocked(int bytes, bool connection)
    {
        if (ResponseSender is { } sender)
        {
            _response.Credit(sender, _upId, bytes, connection, senderOpen: _upOpen);
        }
    }

    /// <summary>The connection the response's bytes came from, to credit; none for the proxy's own answer.</summary>
    private Http2UpstreamConnection? ResponseSender => _localResponse ? null : _up;

    /// <summary>The proxy's own answer (no endpoint, the upstream failed before answering): head and plain-text body, then the stream ends.</summary>
    private void ReplyLocked(int status, string body)
    {
        if (_upOpen)
        {
            _up!.WriteReset(_upId, Http2ErrorCode.Cancel);
            DetachUpstreamLocked();
        }

        _responseStarted = _response.Ended = _localResponse = true;
        Status = status;
        ReturnRequestCopy();
        DropRequestLocked();
        Span<byte> head = stackalloc byte[64];
        var headLength = Http2Headers.EncodeLocalReply(status, body.Length, head);
        _response.Pending ??= new();
        _response.Pending.EnqueueHeaders(head[..headLength], endStream: body.Length == 0);
        if (body.Length > 0)
        {
            _response.Pending.EnqueueData(System.Text.Encoding.ASCII.GetBytes(body), endStream: true);
        }

        PumpResponseLocked();
    }

    /// <summary>A stream error towards the client (the upstream's stream cancelled): nothing more goes either way.</summary>
    private void ResetLocked(Http2ErrorCode code) => FinishLocked(resetDown: code);

    /// <summary>The rest of the request is not wanted: what is queued is dropped and credited, and what still comes will be.</summary>
    private void DropRequestLocked()
    {
        _requestDropped = true;
        if (_request.Pending is not null)
        {
            CreditRequestLocked(_request.Pending.Clear(), connection: true);
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

    private void TryFinishLocked()
    {
        if (_finished || !_response.EndSent || !(_request.EndSent || _requestDropped))
        {
            return;
        }

        // A request still coming after the whole response is stopped without error (RFC 9113, section 8.1).
        FinishLocked(resetDown: _request.Ended ? null : Http2ErrorCode.NoError);
    }

    private void FinishLocked(Http2ErrorCode? resetDown)
    {
        _finished = true;
        if (_upOpen)
        {
            if (!_request.EndSent || !_response.Ended)
            {
                _up!.WriteReset(_upId, Http2ErrorCode.Cancel);
            }

            DetachUpstreamLocked();
        }

        if (resetDown is { } code)
        {
            _down.WriteReset(_downId, code);
        }

        _down.Remove(_downId);
        if (_request.Pending is not null)
        {
            _down.Credit(_request.Pending.Clear());
        }

        if (_response.Pending is not null)
        {
            var dropped = _response.Pending.Clear();
            ResponseSender?.Credit(dropped);
        }

        ReturnRequestCopy();
        _endpoint?.RequestEnded();
        _down.Record(this, _endpoint, _started);
    }

    internal override string Describe()
    {
        lock (this)
        {
            return $"stream {_downId}/{_upId}: up open {_upOpen}, request: {_request.Describe("up")}; response: {_response.Describe("down")}, started {_responseStarted}, finished {_finished}";
        }
    }

    /// <summary>The response started or the stream ended: the request will not be sent again, so its copies go back to the pool.</summary>
    private void ReturnRequestCopy()
    {
        if (_head is not null)
        {
            ArrayPool<byte>.Shared.Return(_head);
            _head = null;
        }

        _copy.Release();
    }
}
