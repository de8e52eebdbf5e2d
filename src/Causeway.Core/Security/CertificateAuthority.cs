using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;

namespace Causeway.Core.Security;

/// <summary>
/// A signing CA of the mesh: a root (shared by every cluster) or a cluster's intermediate signed by it. It creates
/// intermediates, signs workload CSRs after checking the requested SPIFFE ID, and issues serving certificates.
/// </summary>
public sealed class CertificateAuthority : IDisposable
{
    /// <summary>Istio's default workload certificate lifetime.</summary>
    public static readonly TimeSpan DefaultWorkloadLifetime = TimeSpan.FromHours(24);

    /// <summary>Istio's maximum workload certificate lifetime.</summary>
    public static readonly TimeSpan MaxWorkloadLifetime = TimeSpan.FromDays(90);

    /// <summary>Backdating absorbs small clock differences between hosts.</summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private CertificateAuthority(X509Certificate2 signer, X509Certificate2Collection chain, X509Certificate2 root)
    {
        Signer = signer;
        Chain = chain;
        Root = root;
    }

    /// <summary>The signing certificate, with its private key.</summary>
    public X509Certificate2 Signer { get; }

    /// <summary>Signer first, up to and including the root.</summary>
    public X509Certificate2Collection Chain { get; }

    public X509Certificate2 Root { get; }

    public string RootPem => Root.ExportCertificatePem();

    /// <summary>A new self-signed root CA (ECDSA P-256, 10 years unless said otherwise).</summary>
    public static CertificateAuthority CreateRoot(string organization = "Causeway", TimeSpan? lifetime = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"O={organization}, CN=Root CA", key, HashAlgorithmName.SHA256);
        AddCaExtensions(request, pathLength: null);
        var now = DateTimeOffset.UtcNow;
        var root = request.CreateSelfSigned(now - ClockSkew, now + (lifetime ?? TimeSpan.FromDays(3650)));
        return new CertificateAuthority(root, [root], root);
    }

    /// <summary>Loads a CA from PEM: its certificate and key, and the chain above it (empty or the same certificate for a root).</summary>
    public static CertificateAuthority Load(string certPem, string keyPem, string chainPem)
    {
        var signer = X509Certificate2.CreateFromPem(certPem, keyPem);
        if (!IsCa(signer))
        {
            throw new InvalidOperationException($"'{signer.Subject}' is not a CA certificate (basicConstraints CA:TRUE is missing)");
        }

        var chain = new X509Certificate2Collection { signer };
        foreach (X509Certificate2 c in MeshTrust.LoadBundle(chainPem))
        {
            if (!c.RawDataMemory.Span.SequenceEqual(signer.RawDataMemory.Span))
            {
                chain.Add(c);
            }
        }

        var root = chain[^1];
        if (root.SubjectName.RawData.AsSpan().SequenceEqual(root.IssuerName.RawData) is false)
        {
            throw new InvalidOperationException($"the chain of '{signer.Subject}' does not end at a self-signed root; cert-chain.pem must include the root");
        }

        // From the root down: when the root expired, everything under it did too, and the root is what to replace.
        for (var i = chain.Count - 1; i >= 0; i--)
        {
            if (MeshTrust.ValidityProblem(chain[i], i == chain.Count - 1 ? "the mesh root" : i == 0 ? "the CA certificate" : "an intermediate of the CA") is { } problem)
            {
                throw new InvalidOperationException(problem);
            }
        }

        if (chain.Count > 1 && !MeshTrust.TryValidate(signer, chain.Cast<X509Certificate2>().Skip(1), [root], out var error))
        {
            throw new InvalidOperationException($"'{signer.Subject}' does not chain to the root '{root.Subject}': {error}");
        }

        return new CertificateAuthority(signer, chain, root);
    }

    /// <summary>An intermediate CA for one cluster, signed by this CA (2 years unless said otherwise).</summary>
    public CertificateAuthority CreateIntermediate(string cluster, TimeSpan? lifetime = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"O=Causeway, L={cluster}, CN=Intermediate CA {cluster}", key, HashAlgorithmName.SHA256);
        AddCaExtensions(request, pathLength: 0);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Signer, true, false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = Min(now + (lifetime ?? TimeSpan.FromDays(730)), Signer.NotAfter);
        using var cert = request.Create(Signer.SubjectName, Generator(), now - ClockSkew, notAfter, NewSerial());
        var withKey = cert.CopyWithPrivateKey(key);
        var chain = new X509Certificate2Collection { withKey };
        foreach (var parent in Chain)
        {
            // The intermediate owns (and disposes) its own copies: the parent may be disposed first, or after.
            chain.Add(X509CertificateLoader.LoadCertificate(parent.RawData));
        }

        return new CertificateAuthority(withKey, chain, chain[^1]);
    }

    /// <summary>
    /// Signs a workload CSR. The CSR must be signed by its own ECDSA P-256 key and ask for exactly one URI SAN equal to
    /// <paramref name="allowed"/>; otherwise <see cref="UnauthorizedAccessException"/> says why. Returns the chain, leaf first.
    /// </summary>
    public IReadOnlyList<X509Certificate2> SignWorkload(string csrPem, SpiffeId allowed, TimeSpan? lifetime = null)
    {
        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (CryptographicException e)
        {
            throw new UnauthorizedAccessException($"the CSR cannot be read or its signature is wrong: {e.Message}");
        }

        using (var publicKey = csr.PublicKey.GetECDsaPublicKey())
        {
            if (publicKey is null || publicKey.KeySize != 256)
            {
                throw new UnauthorizedAccessException("the CSR's key must be ECDSA P-256");
            }
        }

        List<string> uris;
        try
        {
            uris = csr.CertificateExtensions.Where(e => e.Oid?.Value == UriSubjectAlternativeNames.Oid).SelectMany(e => UriSubjectAlternativeNames.Read(e.RawData)).ToList();
        }
        catch (System.Formats.Asn1.AsnContentException e)
        {
            throw new UnauthorizedAccessException($"the CSR's subjectAltName extension is malformed: {e.Message}");
        }

        if (!WorkloadIdentity.TryFromUris(uris, allowed.TrustDomain, out var requested, out var error))
        {
            throw new UnauthorizedAccessException($"the CSR's identity is refused: {error}");
        }

        if (requested != allowed)
        {
            throw new UnauthorizedAccessException($"the CSR asks for {requested} but the caller may only have {allowed}");
        }

        // A CA that expired while running must refuse with the reason, not fail inside certificate creation.
        if (MeshTrust.ValidityProblem(Signer, "the cluster's CA certificate") is { } expired)
        {
            throw new InvalidOperationException(expired);
        }

        var leafRequest = new CertificateRequest(new X500DistinguishedName(""), csr.PublicKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(allowed.ToString()));
        AddLeafExtensions(leafRequest, san);
        var ttl = lifetime is { } l && l > TimeSpan.Zero ? (l > MaxWorkloadLifetime ? MaxWorkloadLifetime : l) : DefaultWorkloadLifetime;
        var now = DateTimeOffset.UtcNow;
        var leaf = leafRequest.Create(Signer.SubjectName, Generator(), now - ClockSkew, Min(now + ttl, Signer.NotAfter), NewSerial());
        return [leaf, .. Chain.Cast<X509Certificate2>()];
    }

    /// <summary>A serving certificate with its key, for the control plane's own TLS endpoints.</summary>
    public X509Certificate2 IssueServing(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses, SpiffeId? id, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("O=Causeway, CN=causeway-control-plane"), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames)
        {
            san.AddDnsName(dns);
        }

        foreach (var ip in addresses)
        {
            san.AddIpAddress(ip);
        }

        if (id is not null)
        {
            san.AddUri(new Uri(id.ToString()));
        }

        AddLeafExtensions(request, san);
        var now = DateTimeOffset.UtcNow;
        using var cert = request.Create(Signer.SubjectName, Generator(), now - ClockSkew, Min(now + lifetime, Signer.NotAfter), NewSerial());
        return cert.CopyWithPrivateKey(key);
    }

    public void Dispose()
    {
        foreach (var c in Chain)
        {
            c.Dispose();
        }
    }

    private static void AddCaExtensions(CertificateRequest request, int? pathLength)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, pathLength is not null, pathLength ?? 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
    }

    private void AddLeafExtensions(CertificateRequest request, SubjectAlternativeNameBuilder san)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new("1.3.6.1.5.5.7.3.1"), new("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Signer, true, false));
        // An empty subject makes the SAN the only name, so it must be critical (RFC 5280 4.2.1.6).
        request.CertificateExtensions.Add(san.Build(critical: true));
    }

    private X509SignatureGenerator Generator() =>
        Signer.GetECDsaPrivateKey() is { } ec ? X509SignatureGenerator.CreateForECDsa(ec)
        : Signer.GetRSAPrivateKey() is { } rsa ? X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1)
        : throw new InvalidOperationException($"the CA '{Signer.Subject}' has no ECDSA or RSA private key");

    private static bool IsCa(X509Certificate2 cert) =>
        cert.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);

    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        return serial;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTime b) => a < b.ToUniversalTime() ? a : new DateTimeOffset(b.ToUniversalTime());
}
