using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// What a connection's TLS agreed, in the features Kestrel and the inbound steps read (Kestrel's HTTPS middleware sets
/// the same three): the client certificate, the SNI and TLS version, and the ALPN protocol that picks HTTP/2 or HTTP/1.1.
/// </summary>
public sealed class OpenSslConnectionFeatures(OpenSslServerStream tls) : ITlsConnectionFeature, ITlsHandshakeFeature, ITlsApplicationProtocolFeature
{
    public X509Certificate2? ClientCertificate
    {
        get => tls.PeerCertificate;
        set => throw new NotSupportedException("the client certificate is the one the handshake verified");
    }

    public string HostName => tls.HostName ?? "";

    public SslProtocols Protocol => tls.Protocol;

    public ReadOnlyMemory<byte> ApplicationProtocol => tls.ApplicationProtocol;

#pragma warning disable SYSLIB0058 // Kestrel's interface still declares them; OpenSSL's cipher details are not asked for.
    public CipherAlgorithmType CipherAlgorithm => CipherAlgorithmType.None;

    public int CipherStrength => 0;

    public HashAlgorithmType HashAlgorithm => HashAlgorithmType.None;

    public int HashStrength => 0;

    public ExchangeAlgorithmType KeyExchangeAlgorithm => ExchangeAlgorithmType.None;

    public int KeyExchangeStrength => 0;
#pragma warning restore SYSLIB0058

    public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult(tls.PeerCertificate);
}
