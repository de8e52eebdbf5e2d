using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// The OpenSSL client context of the mesh connections a sidecar opens (<see cref="MeshTlsContext"/>): the server's chain
/// must end at a mesh root; SNI and ALPN are set per connection, and secure naming is checked after the handshake.
/// </summary>
public sealed class MeshClientContext : MeshTlsContext
{
    // The istio-* values are what gateways match to let only mesh traffic through; the plain ones are what Kestrel negotiates.
    private static readonly byte[] Http2Alpn = ProtocolList([SslApplicationProtocol.Http2, MeshTls.IstioH2]);
    private static readonly byte[] Http11Alpn = ProtocolList([SslApplicationProtocol.Http11, MeshTls.IstioHttp11]);
    private static readonly byte[] TcpAlpn = ProtocolList([MeshTls.Istio]);

    private unsafe MeshClientContext(WorkloadCertificate certificate, X509Certificate2Collection roots, string trustBundle)
        : base(certificate, roots, trustBundle, null, &OpenSslClientStream.VerifyServer)
    {
    }

    /// <summary>A context presenting <paramref name="certificate"/> and trusting the roots of <paramref name="trustBundle"/> only.</summary>
    public static MeshClientContext Create(WorkloadCertificate certificate, X509Certificate2Collection roots, string trustBundle) => new(certificate, roots, trustBundle);

    /// <summary>The ALPN list, in wire form, a connection carrying <paramref name="protocol"/> offers.</summary>
    internal static ReadOnlySpan<byte> Alpn(MeshProtocol protocol) => protocol switch
    {
        MeshProtocol.Http2 => Http2Alpn,
        MeshProtocol.Http11 => Http11Alpn,
        _ => TcpAlpn,
    };
}
