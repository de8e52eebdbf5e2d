namespace Causeway.Proxy.Http1;

/// <summary>
/// What a draining sidecar sends on an idle mesh connection before it closes it: an unsolicited
/// <c>408 Request Timeout</c> with <c>Connection: close</c> and no body, as servers closing idle keep-alive connections do.
/// A request that crossed it on the wire was not taken, and RFC 9110 (section 15.5.9) lets the client send it again;
/// without the notice the client would read only the close and could not tell it from an application that failed mid-request.
/// </summary>
public static class IdleCloseNotice
{
    /// <summary>The notice as it goes on the wire.</summary>
    public static ReadOnlySpan<byte> Bytes => "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8;

    /// <summary>True for a response that is the notice (or says the same): the request it answers was not taken and may be sent again.</summary>
    public static bool Is(int status, bool keepAlive, long contentLength) => status == 408 && !keepAlive && contentLength == 0;
}
