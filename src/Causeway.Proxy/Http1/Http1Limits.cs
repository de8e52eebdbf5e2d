namespace Causeway.Proxy.Http1;

/// <summary>
/// The limits of the sidecar's own HTTP/1.1 forwarding path (<see cref="Http1Forwarder"/>), named as Kestrel's and
/// Envoy's are; each default says where it comes from. A request outside them is left to Kestrel, which answers it.
/// </summary>
public sealed record Http1Limits
{
    /// <summary>The largest request head forwarded directly (Envoy's max_request_headers_kb, 60); larger heads go to Kestrel, which answers 431.</summary>
    public int MaxRequestHeadBytes { get; init; } = 60 * 1024;

    /// <summary>The most request header lines forwarded directly (Envoy's max_headers_count, 100); more go to Kestrel, which answers 431.</summary>
    public int MaxRequestHeaders { get; init; } = 100;

    /// <summary>The largest response head accepted from an application (Envoy's 60 KiB); a larger one is a 502.</summary>
    public int MaxResponseHeadBytes { get; init; } = 60 * 1024;

    /// <summary>How long a client connection may sit idle between requests (Kestrel's KeepAliveTimeout).</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(130);

    /// <summary>How long a request head may take to arrive once its first byte has (Kestrel's RequestHeadersTimeout): slow-loris clients are cut off.</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a request in flight may go without a byte moving either way (what the forwarder's ActivityTimeout was).</summary>
    public TimeSpan ActivityTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long the rest of a request body is read and dropped after the application answered before taking it all
    /// (Kestrel's request body drain time), so that the client, still sending, reads the answer; then the connection closes.
    /// </summary>
    public TimeSpan RequestBodyDrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a draining sidecar keeps an idle mesh connection open after its <see cref="IdleCloseNotice"/>, reading and
    /// dropping what arrives until the client closes, so that a request already on its way is met by the notice rather
    /// than a reset (Apache's lingering close, 2 s). The client's pool sees the notice within its one-second sweep.
    /// </summary>
    public TimeSpan IdleCloseLinger { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long an idle upstream connection is kept for reuse (SocketsHttpHandler's PooledConnectionIdleTimeout as the proxy set it).</summary>
    public TimeSpan UpstreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>The most idle connections kept per upstream (endpoint and SNI); more are closed when they come back.</summary>
    public int MaxIdleUpstreamConnections { get; init; } = 256;
}
