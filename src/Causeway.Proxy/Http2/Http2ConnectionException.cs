namespace Causeway.Proxy.Http2;

/// <summary>
/// A connection error (RFC 9113, section 5.4.1): the connection ends with GOAWAY carrying <see cref="Code"/>, and the
/// listener counts it under <see cref="Reason"/> (named as Kestrel's connection end reasons are).
/// </summary>
public sealed class Http2ConnectionException(Http2ErrorCode code, string reason, string message) : Exception(message)
{
    public Http2ErrorCode Code { get; } = code;

    public string Reason { get; } = reason;
}
