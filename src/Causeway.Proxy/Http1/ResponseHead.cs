namespace Causeway.Proxy.Http1;

/// <summary>
/// What the direct path needs of an application's response head: its length, status, how its body is framed
/// (Content-Length, chunked, or until the connection closes), and whether the connection may carry another request.
/// </summary>
public readonly record struct ResponseHead(int Length, int Status, long ContentLength, bool Chunked, bool KeepAlive)
{
    /// <summary>An informational (1xx) head: the real response follows it.</summary>
    public bool IsInformational => Status is >= 100 and < 200;

    /// <summary>Whether a body follows, given the request's method (RFC 9112 section 6.3).</summary>
    public bool HasBody(bool headRequest) => !headRequest && !IsInformational && Status is not 204 and not 304;

    /// <summary>A body with neither length nor chunks runs until the application closes the connection.</summary>
    public bool BodyUntilClose => !Chunked && ContentLength < 0;
}
