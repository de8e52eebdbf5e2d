using System.Net.Security;

namespace Causeway.Testing;

/// <summary>How a test client speaks mTLS to a sidecar's inbound port or a gateway, as a peer sidecar would.</summary>
public static class MeshTls
{
    /// <summary>The mesh SNI, the client's certificate (none to test a refusal), one ALPN protocol, and any server certificate accepted: the tests judge the server by what it answers.</summary>
    public static SslClientAuthenticationOptions ClientOptions(string sni, SslStreamCertificateContext? clientCertificate, SslApplicationProtocol protocol) => new()
    {
        TargetHost = sni,
        ClientCertificateContext = clientCertificate,
        ApplicationProtocols = [protocol],
        RemoteCertificateValidationCallback = (_, _, _, _) => true,
    };
}
