using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// The OpenSSL server context of the inbound listener's mesh handshakes (<see cref="MeshTlsContext"/>): a client
/// certificate is required, and ALPN picks the first of our protocols the client offers.
/// </summary>
public sealed unsafe class MeshServerContext : MeshTlsContext
{
    // Server preference, as SslStream's server list had it: the first of ours that the client offers.
    // Pinned for the process's life: OpenSSL hands out a pointer into it as the selected protocol.
    private static readonly byte[] Protocols = ProtocolList([SslApplicationProtocol.Http2, SslApplicationProtocol.Http11, MeshTls.Istio], pinned: true);

    private MeshServerContext(WorkloadCertificate certificate, X509Certificate2Collection roots, string trustBundle)
        : base(certificate, roots, trustBundle, &SelectProtocol)
    {
    }

    /// <summary>A context presenting <paramref name="certificate"/> and trusting the roots of <paramref name="trustBundle"/> only.</summary>
    public static MeshServerContext Create(WorkloadCertificate certificate, X509Certificate2Collection roots, string trustBundle) => new(certificate, roots, trustBundle);

    // No protocol in common ends the handshake with no_application_protocol, as RFC 7301 says and SslStream did.
    [UnmanagedCallersOnly]
    private static int SelectProtocol(nint ssl, byte** selected, byte* selectedLength, byte* offered, uint offeredLength, nint argument)
    {
        fixed (byte* protocols = Protocols)
        {
            return LibSsl.SSL_select_next_proto(selected, selectedLength, protocols, (uint)Protocols.Length, offered, offeredLength) == LibSsl.NpnNegotiated
                ? LibSsl.TlsExtErrOk
                : LibSsl.TlsExtErrAlertFatal;
        }
    }
}
