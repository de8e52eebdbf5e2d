using Causeway.Proxy.Configuration;

namespace Causeway.Proxy.Http2;

/// <summary>
/// A client's stream on one of the sidecar's HTTP/2 listeners, as <see cref="Http2ServerConnection"/> drives it: the
/// request's frames in, and the events that end it. The request goes on as HTTP/2 (<see cref="Http2ProxyStream"/>) or,
/// to an application that speaks HTTP/1.1, as HTTP/1.1 (<see cref="Http1ApplicationStream"/>).
/// </summary>
internal interface IHttp2ServerStream
{
    /// <summary>The mesh service the request is for (outbound), when known.</summary>
    ServiceRoute? Route { get; }

    /// <summary>The response status passed on or answered, 0 before one.</summary>
    int Status { get; }

    /// <summary>When a frame of the stream last came either way (<see cref="Environment.TickCount64"/>).</summary>
    long LastActive { get; }

    /// <summary>Sends the request on, once the read's frames are all handled.</summary>
    void Start();

    /// <summary>A DATA frame's payload (padding removed); <paramref name="flowControlled"/> is what it took of the windows.</summary>
    void OnRequestData(ReadOnlySpan<byte> data, bool endStream, int flowControlled);

    /// <summary>The request's trailers, re-encoded into a pooled buffer the stream returns.</summary>
    void OnRequestTrailers(byte[] block, int length);

    /// <summary>The client reset the stream, or its connection ended.</summary>
    void OnDownstreamReset();

    /// <summary>No byte moved either way for the stream idle timeout.</summary>
    void TimedOut();
}
