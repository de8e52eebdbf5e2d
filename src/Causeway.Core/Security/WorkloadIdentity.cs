using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;

namespace Causeway.Core.Security;

/// <summary>Extracts the SPIFFE identity of a peer certificate, strictly: exactly one URI SAN, a valid SPIFFE ID, the expected trust domain.</summary>
public static class WorkloadIdentity
{
    /// <summary>False with the reason when the certificate does not carry exactly one valid SPIFFE ID of <paramref name="trustDomain"/>.</summary>
    public static bool TryRead(X509Certificate2 certificate, string trustDomain, [NotNullWhen(true)] out SpiffeId? id, out string error)
    {
        id = null;

        // X509-SVID §4: a leaf must not be a CA, nor able to sign certificates or CRLs; a signing certificate that
        // happens to carry a SPIFFE ID (an intermediate's, a stolen one) is not a workload.
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509BasicConstraintsExtension { CertificateAuthority: true })
            {
                error = "the peer presented a CA certificate (basicConstraints cA=true) as its workload certificate";
                return false;
            }

            if (extension is X509KeyUsageExtension usage && (usage.KeyUsages & (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)) != 0)
            {
                error = "the peer's certificate may sign certificates (keyCertSign or cRLSign): not a workload certificate";
                return false;
            }
        }

        IReadOnlyList<string> uris;
        try
        {
            uris = UriSubjectAlternativeNames.Read(certificate);
        }
        catch (AsnContentException e)
        {
            error = $"the subjectAltName extension is malformed: {e.Message}";
            return false;
        }

        return TryFromUris(uris, trustDomain, out id, out error);
    }

    /// <summary>The same checks on a list of URI SANs, e.g. those of a CSR.</summary>
    public static bool TryFromUris(IReadOnlyList<string> uris, string trustDomain, [NotNullWhen(true)] out SpiffeId? id, out string error)
    {
        id = null;
        if (uris.Count != 1)
        {
            error = $"expected exactly one URI SAN (a SPIFFE ID), found {uris.Count}";
            return false;
        }

        if (!SpiffeId.TryParse(uris[0], out id, out error))
        {
            return false;
        }

        if (id.TrustDomain != trustDomain)
        {
            error = $"trust domain '{id.TrustDomain}' is not the mesh's '{trustDomain}'";
            id = null;
            return false;
        }

        return true;
    }
}
