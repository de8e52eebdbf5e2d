namespace Causeway.Proxy.Gateway;

/// <summary>What a gateway needs from a TLS ClientHello: the length of the SNI host name written to the caller's buffer, and the ALPN protocols offered.</summary>
public readonly record struct ClientHelloInfo(int ServerNameLength, ApplicationProtocols ApplicationProtocols)
{
    public bool HasServerName => ServerNameLength > 0;

    /// <summary>True when the client offers one of Istio's mesh ALPN values: only mesh mTLS may cross a gateway.</summary>
    public bool OffersMeshProtocol => (ApplicationProtocols & ApplicationProtocols.Mesh) != 0;
}

/// <summary>The ALPN values a ClientHello offers, as flags so that reading them allocates nothing.</summary>
[Flags]
public enum ApplicationProtocols
{
    None = 0,
    Http11 = 1,
    H2 = 2,
    Istio = 4,
    IstioPeerExchange = 8,
    IstioHttp10 = 16,
    IstioHttp11 = 32,
    IstioH2 = 64,

    /// <summary>Any value not listed above.</summary>
    Other = 128,

    /// <summary>Istio's mesh mTLS values (its gateway filter chains match exactly these).</summary>
    Mesh = Istio | IstioPeerExchange | IstioHttp10 | IstioHttp11 | IstioH2,
}

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
