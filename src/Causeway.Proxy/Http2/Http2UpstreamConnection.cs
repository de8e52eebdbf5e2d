using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Http2;

/// <summary>
/// The proxy's HTTP/2 connection to an upstream (a peer sidecar or gateway over mTLS, or an application over h2c):
/// opens streams for proxied requests, in id order, up to the peer's concurrency limit, and hands each response's
/// frames to its <see cref="Http2UpstreamStream"/>. After a GOAWAY it takes no more streams and the ones it left out are
/// retried or failed.
/// </summary>
public sealed class Http2UpstreamConnection : Http2Connection
{
    private readonly Http2UpstreamPool _pool;
    private int _nextStreamId = 1;
    private int _open;

    public Http2UpstreamConnection(Stream transport, Http2Limits limits, Http2UpstreamPool pool)
        : base(transport, transport, limits)
    {
        _pool = pool;
        WriteRaw(ClientPreface);
        WriteSettings([(0x2, 0), (0x4, (uint)limits.StreamWindow), (0x6, (uint)limits.MaxHeaderListSize)]);
        WriteInitialWindow();
    }

    /// <summary>True once the peer said GOAWAY or the stream ids ran out: no new streams.</summary>
    public bool Draining { get; private set; }

    protected override Task StartAsync() => Task.CompletedTask;

    /// <summary>
    /// Opens a stream and writes its request head, atomically, so that ids go out in order; the stream id, or 0 when
    /// the connection has no room (closed, draining, or at the peer's limit). <paramref name="window"/> is the
    /// stream's send window.
    /// </summary>
    public int TryOpenStream(Http2UpstreamStream stream, ReadOnlySpan<byte> head, bool endStream, out int window)
    {
        int id;
        lock (Sync)
        {
            window = PeerInitialWindow;
            if (IsClosed || Draining || _open >= PeerMaxConcurrentStreams)
            {
                return 0;
            }

            id = _nextStreamId;
            _nextStreamId += 2;
            if (_nextStreamId > int.MaxValue - 2)
            {
                Draining = true;
            }

            _open++;
            AddLocked(id, stream);
            WriteHeadersLocked(id, head, endStream);
        }

        Http2Batch.Dirty(this);
        return id;
    }

    protected override void OnStreamRemovedLocked() => _open--;

    protected override void AfterStreamRemoved()
    {
        if (Draining && StreamCount == 0)
        {
            Abort();
        }
    }

    protected override void OnHeaders(int streamId, bool endStream, HeaderList headers, bool tooLarge)
    {
        if ((streamId & 1) == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid_stream_id", "a server opened a stream");
        }

        (Find(streamId) as Http2UpstreamStream)?.OnResponseHeaders(headers, endStream, tooLarge);
    }

    protected override void OnData(Http2Stream stream, int streamId, ReadOnlySpan<byte> data, bool endStream, int flowControlled) =>
        ((Http2UpstreamStream)stream).OnResponseData(data, endStream, flowControlled);

    protected override void OnReset(Http2Stream stream, int streamId, Http2ErrorCode code) => ((Http2UpstreamStream)stream).OnUpstreamReset(code);

    protected override void OnGoAway(int lastStreamId, Http2ErrorCode code)
    {
        List<Http2Stream> refused;
        lock (Sync)
        {
            Draining = true;
            refused = StreamsAfter(lastStreamId);
        }

        _pool.Remove(this);
        foreach (var stream in refused)
        {
            ((Http2UpstreamStream)stream).OnUpstreamLost(refused: true);
        }

        if (StreamCount == 0)
        {
            Abort();
        }
    }

    protected override void OnClosed(List<Http2Stream> streams)
    {
        _pool.Remove(this);
        foreach (var stream in streams)
        {
            ((Http2UpstreamStream)stream).OnUpstreamLost(refused: false);
        }
    }
}
