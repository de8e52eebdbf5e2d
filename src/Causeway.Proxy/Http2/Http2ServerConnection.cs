using System.Buffers;
using System.Runtime.CompilerServices;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Http2.Hpack;
using Causeway.Proxy.LoadBalancing;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Http2;

/// <summary>
/// A client's HTTP/2 connection to the sidecar: checks the preface and each request head (RFC 9113, section 8.3),
/// opens a stream per request (<see cref="IHttp2ServerStream"/>), and refuses streams past its limit or once it is draining.
/// Where a request goes and what is recorded of it is the listener's (<see cref="Http2OutboundConnection"/>,
/// <see cref="Http2InboundConnection"/>).
/// </summary>
public abstract class Http2ServerConnection : Http2Connection
{
    private readonly Stream _input;
    private readonly string _listener;
    private readonly List<IHttp2ServerStream> _starting = [];
    private int _lastStreamId;
    private volatile bool _draining;
    private long _opened;
    private long _prematureResets;

    protected Http2ServerConnection(Stream input, Stream output, Http2Forwarder forwarder, string listener)
        : base(input, output, forwarder.Limits)
    {
        _input = input;
        _listener = listener;
        Forwarder = forwarder;
    }

    /// <summary>Aborts the listener's connection under the streams (Kestrel's), which ends a read pending on them.</summary>
    internal Action? AbortTransport { get; set; }

    public override void Abort()
    {
        AbortTransport?.Invoke();
        base.Abort();
    }

    protected Http2Forwarder Forwarder { get; }

    /// <summary>
    /// Retries of a request that never reached an application: a connect failure (outbound: on another endpoint), a
    /// stream the upstream refused unprocessed (REFUSED_STREAM, past its GOAWAY: on a new connection).
    /// </summary>
    internal int MaxRetries => Forwarder.Options.MaxRetries;

    protected override int LastStreamId => Volatile.Read(ref _lastStreamId);

    protected override async Task StartAsync()
    {
        var preface = new byte[ClientPreface.Length];
        using var timeout = new CancellationTokenSource(Limits.PrefaceTimeout);
        await _input.ReadExactlyAsync(preface, timeout.Token);
        if (!preface.AsSpan().SequenceEqual(ClientPreface))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_handshake", "not the HTTP/2 connection preface");
        }

        Http2Batch.Enter();
        try
        {
            WriteSettings([(0x3, (uint)Limits.MaxConcurrentStreams), (0x4, (uint)Limits.StreamWindow), (0x6, (uint)Limits.MaxHeaderListSize)]);
            WriteInitialWindow();
        }
        finally
        {
            Http2Batch.Exit();
        }
    }

    /// <summary>Stops taking streams (GOAWAY with the last one taken) and closes once those have ended, as Kestrel does when the server stops.</summary>
    public void Drain()
    {
        _draining = true;
        GoAway(Http2ErrorCode.NoError);
        AfterStreamRemoved();
    }

    protected override void AfterStreamRemoved()
    {
        if (_draining && StreamCount == 0)
        {
            _ = FlushAndCloseAsync();
        }
    }

    protected override void OnHeaders(int streamId, bool endStream, HeaderList headers, bool tooLarge)
    {
        if ((streamId & 1) == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_stream_id", "a client stream with an even id");
        }

        if (Find(streamId) is { } existing)
        {
            OnTrailers(existing, endStream, headers);
            return;
        }

        if (streamId <= _lastStreamId)
        {
            // A stream that already ended (the proxy answered or reset it); its trailers are not wanted.
            return;
        }

        Volatile.Write(ref _lastStreamId, streamId);
        if (_draining || StreamCount >= Limits.MaxConcurrentStreams)
        {
            WriteReset(streamId, Http2ErrorCode.RefusedStream);
            return;
        }

        if (tooLarge)
        {
            Open(streamId, endStream, null, 0, -1).Reply(431, "");
            return;
        }

        if (!TryReadHead(headers, out var head))
        {
            WriteReset(streamId, Http2ErrorCode.ProtocolError);
            return;
        }

        var status = Accept(headers, head, out var route, out var body);
        if (status != 0)
        {
            var refused = Open(streamId, endStream, null, 0, -1);
            refused.Route = route;
            refused.Reply(status, body);
            return;
        }

        var stream = OpenForwarded(streamId, endStream, headers, head, route);
        // Started when the read's frames are all handled: a stream the client resets in the same read (a rapid reset)
        // never reaches an upstream.
        _starting.Add(stream);
    }

    protected override void OnBatchEnd()
    {
        foreach (var stream in _starting)
        {
            stream.Start();
        }

        _starting.Clear();
    }

    /// <summary>The stream for a request that goes on (<see cref="Accept"/> took it): as HTTP/2, unless the listener sends it on otherwise.</summary>
    private protected virtual IHttp2ServerStream OpenForwarded(int streamId, bool endStream, HeaderList headers, in Http2RequestHead head, ServiceRoute? route)
    {
        var block = ArrayPool<byte>.Shared.Rent(Http2Headers.MaxBlockLength(headers) + ExtraHeadersLength);
        var length = EncodeUpstreamHead(headers, head, block);
        var stream = Open(streamId, endStream, block, length, head.ContentLength);
        stream.Route = route;
        return stream;
    }

    private Http2ProxyStream Open(int streamId, bool endStream, byte[]? head, int headLength, long contentLength)
    {
        var stream = new Http2ProxyStream(this, streamId, head, headLength, endStream, contentLength);
        Add(streamId, stream);
        return stream;
    }

    /// <summary>Puts a new stream on the connection.</summary>
    private protected void Add(int streamId, Http2Stream stream)
    {
        _opened++;
        lock (Sync)
        {
            AddLocked(streamId, stream);
        }
    }

    private void OnTrailers(Http2Stream stream, bool endStream, HeaderList headers)
    {
        if (!endStream || !Http2Headers.TryEncodeResponse(headers, 0, out var block, out var length))
        {
            stream.ResetFrom(this, Http2ErrorCode.ProtocolError);
            return;
        }

        ((IHttp2ServerStream)stream).OnRequestTrailers(block, length);
    }

    /// <summary>The request's pseudo-headers and framing fields, by index; false when the head is malformed (RFC 9113, section 8.3.1).</summary>
    private static bool TryReadHead(HeaderList headers, out Http2RequestHead head)
    {
        head = new Http2RequestHead();
        var regular = false;
        for (var i = 0; i < headers.Count; i++)
        {
            var name = headers.Name(i);
            var value = headers.Value(i);
            if (!Http2Headers.IsValidField(name, value))
            {
                return false;
            }

            if (name[0] == (byte)':')
            {
                if (regular)
                {
                    return false;
                }

                ref var slot = ref name.SequenceEqual(":method"u8) ? ref head.Method :
                    ref name.SequenceEqual(":path"u8) ? ref head.Path :
                    ref name.SequenceEqual(":scheme"u8) ? ref head.Scheme :
                    ref name.SequenceEqual(":authority"u8) ? ref head.Authority : ref head.Unknown;
                if (slot >= 0 || Unsafe.AreSame(ref slot, ref head.Unknown))
                {
                    return false;
                }

                slot = i;
                continue;
            }

            regular = true;
            if (name.SequenceEqual("host"u8))
            {
                head.Host = i;
            }
            else if (name.SequenceEqual("content-length"u8))
            {
                if (!long.TryParse(value, System.Globalization.NumberStyles.None, null, out var contentLength) ||
                    (head.ContentLength >= 0 && head.ContentLength != contentLength))
                {
                    return false;
                }

                head.ContentLength = contentLength;
            }
        }

        if (head.Method < 0)
        {
            return false;
        }

        if (headers.Value(head.Method).SequenceEqual("CONNECT"u8))
        {
            // CONNECT has only :method and :authority (section 8.5); the proxy answers it (Accept) rather than tunnel it.
            return head.Authority >= 0 && head.Scheme < 0 && head.Path < 0;
        }

        return head.Scheme >= 0 && head.Path >= 0 && headers.Value(head.Path).Length > 0 && (head.Authority >= 0 || head.Host >= 0);
    }

    /// <summary>
    /// Whether the request goes on: 0, with its route (outbound); else the status and body of the proxy's answer, and
    /// the route when the answer is to be recorded as the route's.
    /// </summary>
    private protected abstract int Accept(HeaderList headers, in Http2RequestHead head, out ServiceRoute? route, out string body);

    /// <summary>The most bytes <see cref="WriteExtraHeaders"/> adds.</summary>
    protected virtual int ExtraHeadersLength => 0;

    /// <summary>Fields the listener adds to every request it forwards.</summary>
    protected virtual int WriteExtraHeaders(Span<byte> destination) => 0;

    /// <summary>Fields the listener drops from requests (and replaces).</summary>
    protected virtual bool Drops(ReadOnlySpan<byte> name) => false;

    /// <summary>The request head for the upstream: pseudo-headers first (static-table references where they can be), then the client's fields.</summary>
    private int EncodeUpstreamHead(HeaderList headers, in Http2RequestHead head, byte[] block)
    {
        var span = block.AsSpan();
        var method = headers.Value(head.Method);
        var n = method.SequenceEqual("GET"u8) ? HpackEncoder.WriteIndexed(StaticTable.MethodGet, span) :
            method.SequenceEqual("POST"u8) ? HpackEncoder.WriteIndexed(StaticTable.MethodPost, span) :
            HpackEncoder.WriteLiteral(StaticTable.MethodGet, method, span);
        var scheme = headers.Value(head.Scheme);
        n += scheme.SequenceEqual("http"u8) ? HpackEncoder.WriteIndexed(StaticTable.SchemeHttp, span[n..]) :
            scheme.SequenceEqual("https"u8) ? HpackEncoder.WriteIndexed(StaticTable.SchemeHttps, span[n..]) :
            HpackEncoder.WriteLiteral(StaticTable.SchemeHttp, scheme, span[n..]);
        var path = headers.Value(head.Path);
        n += path.SequenceEqual("/"u8) ? HpackEncoder.WriteIndexed(StaticTable.PathRoot, span[n..]) :
            HpackEncoder.WriteLiteral(StaticTable.PathRoot, path, span[n..]);
        n += HpackEncoder.WriteLiteral(StaticTable.Authority, headers.Value(head.AuthorityOrHost), span[n..]);
        for (var i = 0; i < headers.Count; i++)
        {
            var name = headers.Name(i);
            if (name[0] == (byte)':' || i == head.Host || Drops(name))
            {
                continue;
            }

            n += HpackEncoder.WriteLiteral(name, headers.Value(i), span[n..]);
        }

        return n + WriteExtraHeaders(span[n..]);
    }

    /// <summary>Picks where the stream's request goes now: the pool of the upstream and the endpoint (null for the application behind an inbound listener).</summary>
    internal abstract bool TryChoose(Http2ProxyStream stream, UpstreamEndpoint? previous, out Http2UpstreamPool pool, out UpstreamEndpoint? endpoint);

    /// <summary>An upstream connection for the stream could not be made.</summary>
    internal abstract void ConnectFailed(UpstreamEndpoint? endpoint, int attempt, string reason);

    /// <summary>The stream ended: its metrics.</summary>
    internal abstract void Record(IHttp2ServerStream stream, UpstreamEndpoint? endpoint, long started);

    protected override void OnData(Http2Stream stream, int streamId, ReadOnlySpan<byte> data, bool endStream, int flowControlled) =>
        ((IHttp2ServerStream)stream).OnRequestData(data, endStream, flowControlled);

    protected override void OnReset(Http2Stream stream, int streamId, Http2ErrorCode code)
    {
        var proxied = (IHttp2ServerStream)stream;
        proxied.OnDownstreamReset();
        if (proxied.Status == 0 && ++_prematureResets > Limits.MaxPrematureResets && _prematureResets * 2 > _opened)
        {
            // CVE-2023-44487: most streams cancelled before any answer is a client making the proxy work for nothing
            // (Envoy's premature reset check); a client cancelling now and then never comes near it.
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "stream_reset_limit_exceeded", $"{_prematureResets} of {_opened} streams reset before their response");
        }
    }

    protected override void OnProtocolError(Http2ConnectionException error)
    {
        Forwarder.Metrics.Connection(_listener, error.Reason);
        Forwarder.Logger.LogDebug("HTTP/2 connection error on {Listener}: {Reason} ({Message})", _listener, error.Reason, error.Message);
    }

    /// <summary>Ends the streams on which no byte moved either way since <paramref name="idleSince"/> (<see cref="Http2Limits.StreamIdleTimeout"/>).</summary>
    internal void EndIdleStreams(long idleSince)
    {
        foreach (IHttp2ServerStream stream in StreamsAfter(0, locked: false))
        {
            if (stream.LastActive < idleSince)
            {
                stream.TimedOut();
            }
        }
    }

    protected override void OnGoAway(int lastStreamId, Http2ErrorCode code)
    {
        // A client's GOAWAY says it opens no more streams; the ones open finish.
    }

    protected override void OnClosed(List<Http2Stream> streams)
    {
        foreach (IHttp2ServerStream stream in streams)
        {
            stream.OnDownstreamReset();
        }
    }
}
