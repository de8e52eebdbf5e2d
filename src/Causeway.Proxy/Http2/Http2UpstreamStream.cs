using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Http2;

/// <summary>
/// A request the proxy sends on an upstream HTTP/2 connection: what <see cref="Http2UpstreamPool"/> and
/// <see cref="Http2UpstreamConnection"/> tell it, from the connection's making to the response's last frame. An HTTP/2
/// client's stream (<see cref="Http2ProxyStream"/>) and an HTTP/1.1 client's request on an upgraded mesh hop
/// (<see cref="Http1.UpgradedRequestStream"/>) are both one.
/// </summary>
public abstract class Http2UpstreamStream : Http2Stream
{
    /// <summary>Opens the request on <paramref name="up"/> if it has room; false if it has none. The caller holds this stream's lock.</summary>
    internal abstract bool TryOpenOnLocked(Http2UpstreamConnection up);

    /// <summary>The pool has a connection that may have room: the request opens on it, or waits for the next.</summary>
    internal void OnPoolReady(Http2UpstreamPool pool, Http2UpstreamConnection up)
    {
        lock (this)
        {
            if (!TryOpenOnLocked(up))
            {
                pool.Wait(this);
            }
        }
    }

    /// <summary>
    /// Opens the stream on <paramref name="up"/> with its head, setting the request's send window and the response's
    /// receive window; the stream id, or 0 when the connection has no room. The caller holds this stream's lock.
    /// </summary>
    private protected int OpenOnLocked(Http2UpstreamConnection up, ReadOnlySpan<byte> head, bool endStream, ref Http2StreamDirection request, ref Http2StreamDirection response)
    {
        var id = up.TryOpenStream(this, head, endStream, out var window);
        if (id != 0)
        {
            request.SendWindow = window;
            request.EndSent = endStream;
            response.ReceiveWindow = up.Limits.StreamWindow;
        }

        return id;
    }

    /// <summary>The upstream connection could not be made: nothing reached the application.</summary>
    internal abstract void OnConnectFailed(string reason);

    /// <summary>A response head, informational head or trailers; <paramref name="fields"/> is the connection's, valid only during the call.</summary>
    internal abstract void OnResponseHeaders(HeaderList fields, bool endStream, bool tooLarge);

    /// <summary>A DATA frame's payload; <paramref name="flowControlled"/> is what it took of the windows.</summary>
    internal abstract void OnResponseData(ReadOnlySpan<byte> data, bool endStream, int flowControlled);

    /// <summary>The upstream reset the stream.</summary>
    internal abstract void OnUpstreamReset(Http2ErrorCode code);

    /// <summary>The upstream connection ended, or its GOAWAY left this stream out (<paramref name="refused"/>: never processed).</summary>
    internal abstract void OnUpstreamLost(bool refused);
}
