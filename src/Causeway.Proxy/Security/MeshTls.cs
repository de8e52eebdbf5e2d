using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Naming;
using Causeway.Core.Security;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Security.OpenSsl;

namespace Causeway.Proxy.Security;

/// <summary>
/// The TLS of mesh connections a sidecar opens (<see cref="MeshTlsServer"/> accepts them): mesh roots only, SPIFFE
/// identities checked strictly. The handshake runs on OpenSSL with one client context per workload certificate and
/// trust bundle (<see cref="MeshClientContext"/>).
/// </summary>
public sealed class MeshTls(WorkloadCertificates certificates, ProxyConfigHolder config)
{
    public static readonly SslApplicationProtocol IstioH2 = new("istio-h2");
    public static readonly SslApplicationProtocol IstioHttp11 = new("istio-http/1.1");
    public static readonly SslApplicationProtocol Istio = new("istio");

    private MeshClientContext? _context;

    /// <summary>
    /// mTLS over <paramref name="transport"/> (which the returned stream owns) with <paramref name="sni"/> and the ALPN
    /// of <paramref name="protocol"/>. The server's chain must end at a mesh root of the moment, and it must present one
    /// of the identities the SNI's service runs as (secure naming); else <see cref="AuthenticationException"/> says why.
    /// </summary>
    public async Task<OpenSslClientStream> ConnectAsync(Stream transport, string sni, MeshProtocol protocol, CancellationToken cancellationToken)
    {
        var context = Context() ?? throw new AuthenticationException("no workload certificate or trust bundle yet");
        var tls = new OpenSslClientStream(context, transport, sni, protocol, server => Judge(server, sni));
        try
        {
            await tls.HandshakeAsync(cancellationToken);
            if (Refusal(tls, context, sni) is { } refusal)
            {
                throw new AuthenticationException(refusal);
            }

            return tls;
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    /// <summary>True when <paramref name="server"/> is one of the identities the SNI's service runs as.</summary>
    private bool IsExpected(string sni, SpiffeId server)
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

    /// <summary>
    /// Why the server's certificate, whose chain OpenSSL verified, is refused during the handshake (so that the server
    /// is sent an alert), or null: it must name one of the identities the SNI's service runs as (secure naming).
    /// </summary>
    private string? Judge(X509Certificate2 server, string sni)
    {
        if (!TryReadIdentity(server, out var id, out var error))
        {
            return $"the server's certificate: {error}";
        }

        return IsExpected(sni, id!) ? null : $"the server is {id}, which the service of '{sni}' does not run as (secure naming)";
    }

    /// <summary>Why a server the handshake accepted is refused after it, or null when it is not.</summary>
    private string? Refusal(OpenSslClientStream tls, MeshClientContext context, string sni)
    {
        if (!tls.Judged)
        {
            return $"the server's certificate for '{sni}' was not judged during the handshake";
        }

        // A trust bundle replaced during the handshake: the chain must still end at a root of the moment.
        return config.Current is not { } snapshot || !context.StillTrusts(snapshot, tls) ? "the server's chain no longer ends at a mesh root" : null;
    }

    /// <summary>The context for the certificate and trust bundle of the moment, built when either changed.</summary>
    private MeshClientContext? Context() => MeshTlsContext.ForTheMoment(ref _context, certificates.Current, config.Current, MeshClientContext.Create);
}
