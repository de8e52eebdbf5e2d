using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;

namespace Causeway.Core.Security;

/// <summary>Makes a workload's key pair (ECDSA P-256, kept in memory) and a CSR for its SPIFFE ID.</summary>
public static class WorkloadCsr
{
    /// <summary>A new key and the PEM CSR that asks for <paramref name="id"/>.</summary>
    public static (ECDsa Key, string CsrPem) Create(SpiffeId id)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(id.ToString()));
        request.CertificateExtensions.Add(san.Build(critical: true));
        return (key, request.CreateSigningRequestPem());
    }
}
