namespace Causeway.Proxy.Security;

/// <summary>What a mesh connection carries, which decides the ALPN its TLS handshake offers.</summary>
public enum MeshProtocol
{
    /// <summary>Raw TCP (ALPN <c>istio</c>): the destination sidecar splices it to the application.</summary>
    Tcp,

    /// <summary>HTTP/1.1 (ALPN <c>http/1.1</c> and <c>istio-http/1.1</c>).</summary>
    Http11,

    /// <summary>HTTP/2 (ALPN <c>h2</c> and <c>istio-h2</c>).</summary>
    Http2,
}
