namespace Causeway.Proxy.Http;

/// <summary>
/// The body of a 502 a proxy answers itself when its upstream failed before a response, in Envoy's words for the same
/// case, so a client (or a test's log) sees the cause without the proxy's own log.
/// </summary>
internal static class UpstreamFailure
{
    /// <summary>A refused stream the proxy could not send again (Envoy's reset reason for it).</summary>
    public const string RefusedStream = "remote refused stream reset";

    /// <summary>The upstream reset the stream or closed its connection before a response.</summary>
    public const string RemoteReset = "remote reset";

    /// <summary>The upstream's response broke HTTP/2.</summary>
    public const string ProtocolError = "protocol error";

    /// <summary>The body for <paramref name="reason"/>: a connect error's message or one of this class's reasons.</summary>
    public static string Body(string reason) =>
        "upstream connect error or disconnect/reset before headers. reset reason: " + (reason.Length > 0 ? reason : "unknown") + "\n";
}
