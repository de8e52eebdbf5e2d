namespace Causeway.Proxy.Http2;

/// <summary>
/// The limits of the sidecar's own HTTP/2 path (<see cref="Http2Forwarder"/>), named as Kestrel's Http2Limits and
/// Envoy's http2_protocol_options are; each default says where it comes from.
/// </summary>
public sealed record Http2Limits
{
    /// <summary>Streams a client may have open on one connection (Kestrel's MaxStreamsPerConnection, 100); one more is refused with REFUSED_STREAM.</summary>
    public int MaxConcurrentStreams { get; init; } = 100;

    /// <summary>The flow-control window each stream gets, in bytes (Kestrel's InitialStreamWindowSize, 768 KiB): what the proxy may hold of a stream's body that its other side cannot take yet.</summary>
    public int StreamWindow { get; init; } = 768 * 1024;

    /// <summary>The flow-control window of a whole connection, in bytes (Kestrel's InitialConnectionWindowSize, 1 MiB).</summary>
    public int ConnectionWindow { get; init; } = 1024 * 1024;

    /// <summary>The largest decoded header list accepted, names and values plus 32 per field (Envoy's max_request_headers_kb, 60 KiB); a larger request is answered 431.</summary>
    public int MaxHeaderListSize { get; init; } = 60 * 1024;

    /// <summary>The most header fields a request may have (Envoy's max_headers_count, 100).</summary>
    public int MaxHeaderCount { get; init; } = 100;

    /// <summary>
    /// Bytes queued for one connection's socket above which the proxy stops moving more bodies onto it until the
    /// socket takes them: with flow control, what bounds a connection's memory when its peer reads slowly.
    /// </summary>
    public int OutputHighWater { get; init; } = 256 * 1024;

    /// <summary>How long a client connection may go with no stream open before it is closed with GOAWAY (Kestrel's KeepAliveTimeout).</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(130);

    /// <summary>How long a stream may go with no byte moving either way before the proxy ends it (Envoy's stream_idle_timeout, 5 minutes): 504 before an answer, a reset after.</summary>
    public TimeSpan StreamIdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Streams a client may reset before their response beyond which, if they are most of its streams, its connection
    /// is closed (CVE-2023-44487; Envoy counts such "premature" resets the same way).
    /// </summary>
    public int MaxPrematureResets { get; init; } = 100;

    /// <summary>
    /// The most of a request's body (and trailers) kept, until its response starts, so that a stream the upstream
    /// refused unprocessed (REFUSED_STREAM, or left out by its GOAWAY) can be sent again whole, as Istio's default
    /// <c>refused-stream</c> retry does. Envoy keeps up to its buffer limit (1 MiB by default) per request; 64 KiB
    /// covers unary gRPC calls and ordinary bodies while many concurrent uploads stay cheap. A larger request
    /// streams on without a copy, and its refused stream is answered 502.
    /// </summary>
    public int RetryBufferBytes { get; init; } = 64 * 1024;

    /// <summary>How long the connection preface may take to arrive (Kestrel's RequestHeadersTimeout).</summary>
    public TimeSpan PrefaceTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an upstream connection with no stream open is kept for reuse (the forwarder's PooledConnectionIdleTimeout).</summary>
    public TimeSpan UpstreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(90);
}
