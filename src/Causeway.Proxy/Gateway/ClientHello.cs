namespace Causeway.Proxy.Gateway;

/// <summary>What a gateway needs from a TLS ClientHello: the SNI host name (if exactly one) and the ALPN protocols offered.</summary>
public sealed record ClientHello(string? ServerName, IReadOnlyList<string> ApplicationProtocols);

/// <summary>The outcome of reading a ClientHello from the bytes received so far.</summary>
public enum ClientHelloStatus
{
    /// <summary>A whole, well-formed ClientHello.</summary>
    Complete,

    /// <summary>A prefix of a plausible ClientHello: read more.</summary>
    Incomplete,

    /// <summary>The first byte is not a TLS handshake record.</summary>
    NotTls,

    /// <summary>A length, type or field is wrong.</summary>
    Malformed,

    /// <summary>Longer than the limit allows.</summary>
    TooLarge,
}
