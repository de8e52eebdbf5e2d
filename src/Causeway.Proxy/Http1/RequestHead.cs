namespace Causeway.Proxy.Http1;

/// <summary>
/// What the direct path needs of a parsed HTTP/1.1 request head, as offsets into the bytes it was parsed from (no
/// strings, so that a request costs no allocation): the head's length, the body's, and where the method, the target's
/// path and query, and the Host value are.
/// </summary>
public readonly record struct RequestHead(int Length, long ContentLength, bool Close, Range Method, Range PathAndQuery, Range Path, Range Host)
{
    /// <summary>True for HEAD: the response has no body whatever its Content-Length says.</summary>
    public bool IsHeadMethod(ReadOnlySpan<byte> head) => head[Method].SequenceEqual("HEAD"u8);
}
