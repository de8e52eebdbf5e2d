using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Naming;
using Causeway.Core.Security;
using Causeway.Proxy.Configuration;

namespace Causeway.Proxy.Security;

/// <summary>The TLS settings of mesh connections a sidecar opens (<see cref="MeshTlsServer"/> accepts them): mesh roots only, SPIFFE identities checked strictly.</summary>
public sealed class MeshTls(WorkloadCertificates certificates, ProxyConfigHolder config)
{
    public static readonly SslApplicationProtocol IstioH2 = new("istio-h2");
    public static readonly SslApplicationProtocol IstioHttp11 = new("istio-http/1.1");
    public static readonly SslApplicationProtocol Istio = new("istio");

    // The istio-* values are what gateways match to let only mesh traffic through; the plain ones are what Kestrel negotiates.
    private static readonly List<SslApplicationProtocol> Http2Alpn = [SslApplicationProtocol.Http2, IstioH2];
    private static readonly List<SslApplicationProtocol> Http11Alpn = [SslApplicationProtocol.Http11, IstioHttp11];
    private static readonly List<SslApplicationProtocol> TcpAlpn = [Istio];

    /// <summary>
    /// Client options for a connection carrying <paramref name="sni"/> and <paramref name="protocol"/>. The server must present
    /// one of the identities the service runs as (secure naming), looked up from the SNI's service.
    /// </summary>
    public SslClientAuthenticationOptions Client(string sni, MeshProtocol protocol) => new()
    {
        TargetHost = sni,
        ClientCertificateContext = certificates.Current?.Context ?? throw new InvalidOperationException("no workload certificate yet"),
        ApplicationProtocols = protocol switch { MeshProtocol.Http2 => Http2Alpn, MeshProtocol.Http11 => Http11Alpn, _ => TcpAlpn },
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        CertificateChainPolicy = config.Current?.ChainPolicy,
        AllowRenegotiation = false,
        // Every connection is a full handshake, validated against the trust bundle of the moment (see MeshServerContext).
        AllowTlsResume = false,
        RemoteCertificateValidationCallback = (_, certificate, chain, _) => ValidatePeer(certificate, chain, out var id, out _) && IsExpected(sni, id!),
    };

    /// <summary>True when <paramref name="server"/> is one of the identities the SNI's service runs as.</summary>
    public bool IsExpected(string sni, SpiffeId server)
    {
        if (!MeshSni.TryParse(sni, out var parsed) || config.Current?.Find(parsed.Host, (uint)parsed.Port) is not { } route)
        {
            return false;
        }

        return route.Identities.Contains(server.ToString());
    }

    /// <summary>The SPIFFE ID of a peer whose chain the handshake already validated.</summary>
    public bool TryReadIdentity(X509Certificate2? certificate, out SpiffeId? id, out string error)
    {
        id = null;
        if (certificate is null)
        {
            error = "no peer certificate";
            return false;
        }

        var trustDomain = config.Current?.Config.TrustDomain is { Length: > 0 } td ? td : SpiffeId.DefaultTrustDomain;
        return WorkloadIdentity.TryRead(certificate, trustDomain, out id, out error);
    }

    /// <summary>True when the peer's chain ends at a mesh root and its leaf carries exactly one SPIFFE ID of the trust domain.</summary>
    public bool ValidatePeer(X509Certificate? certificate, X509Chain? chain, out SpiffeId? id, out string error)
    {
        id = null;
        var snapshot = config.Current;
        if (certificate is not X509Certificate2 leaf)
        {
            error = "no peer certificate";
            return false;
        }

        if (snapshot is null)
        {
            error = "no trust bundle yet";
            return false;
        }

        // The handshake built the chain with the snapshot's policy, so it is judged, not built again; a chain built any
        // other way (no policy was set: no configuration yet when the handshake began) is built here.
        var trusted = chain is { ChainElements.Count: > 0, ChainPolicy.TrustMode: X509ChainTrustMode.CustomRootTrust }
            ? snapshot.TrustsChain(chain, out error)
            : snapshot.TrustsChain(leaf, chain?.ChainPolicy.ExtraStore ?? [], out error);
        if (!trusted)
        {
            return false;
        }

        return WorkloadIdentity.TryRead(leaf, snapshot.Config.TrustDomain.Length > 0 ? snapshot.Config.TrustDomain : SpiffeId.DefaultTrustDomain, out id, out error);
    }
}
