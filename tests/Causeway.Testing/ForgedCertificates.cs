using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Security;

namespace Causeway.Testing;

/// <summary>Workload certificates made outside the control plane's CA, for tests that play a caller or a forger.</summary>
public static class ForgedCertificates
{
    /// <summary>The extended key usage of a TLS server's certificate.</summary>
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";

    /// <summary>The extended key usage of a TLS client's certificate.</summary>
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// A workload certificate with any identity (null: no URI SAN at all), validity, CA flag and extended key usages
    /// (OIDs; by default serverAuth and clientAuth, as the mesh CA issues), signed by a mesh intermediate.
    /// </summary>
    public static X509Certificate2 Leaf(CertificateAuthority issuer, SpiffeId? id, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool ca = false, string[]? usages = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        if (id is not null)
        {
            san.AddUri(new Uri(id.ToString()));
        }
        else
        {
            san.AddDnsName("sleep.sample.svc.cluster.local");
        }

        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(ca, false, 0, true));
        var oids = new OidCollection();
        foreach (var usage in usages ?? [ServerAuth, ClientAuth])
        {
            oids.Add(new Oid(usage));
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        // The generator overload, unlike Create(issuer, ...), lets a leaf's validity lie outside its issuer's, as a forger's would.
        using var cert = request.Create(
            issuer.Signer.SubjectName,
            X509SignatureGenerator.CreateForECDsa(issuer.Signer.GetECDsaPrivateKey()!),
            notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-5),
            notAfter ?? DateTimeOffset.UtcNow.AddHours(1),
            RandomNumberGenerator.GetBytes(16));
        return cert.CopyWithPrivateKey(key);
    }
}
