using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Testing;

namespace Causeway.Core.Tests.Security;

public class CertificateAuthorityTests
{
    private static readonly SpiffeId Sleep = new("cluster.local", "sample", "sleep");

    [Fact]
    public void SignWorkload_IssuesAChainThatValidatesToTheRoot_WithTheSpiffeIdAsItsOnlyUriSan()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var cluster1 = root.CreateIntermediate("cluster1");
        var (key, csr) = WorkloadCsr.Create(Sleep);
        using (key)
        {
            var chain = cluster1.SignWorkload(csr, Sleep);

            Assert.Equal(3, chain.Count);
            var leaf = chain[0];
            Assert.True(MeshTrust.TryValidate(leaf, chain.Skip(1), [root.Root], out var error), error);
            Assert.Equal(["spiffe://cluster.local/ns/sample/sa/sleep"], UriSubjectAlternativeNames.Read(leaf));
            Assert.True(WorkloadIdentity.TryRead(leaf, "cluster.local", out var id, out _));
            Assert.Equal(Sleep, id);
            Assert.Equal(256, leaf.GetECDsaPublicKey()!.KeySize);
            Assert.InRange(leaf.NotAfter.ToUniversalTime() - DateTime.UtcNow, TimeSpan.FromHours(23.9), TimeSpan.FromHours(24.1));
            Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
            Assert.Contains("L=cluster1", chain[1].Subject, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void SignWorkload_RefusesAnIdentityTheCallerMayNotHave()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var ca = root.CreateIntermediate("cluster1");
        var (key, csr) = WorkloadCsr.Create(new SpiffeId("cluster.local", "istio-system", "istiod"));
        key.Dispose();
        var e = Assert.Throws<UnauthorizedAccessException>(() => ca.SignWorkload(csr, Sleep));
        Assert.Contains("may only have spiffe://cluster.local/ns/sample/sa/sleep", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SignWorkload_RefusesACsrWithTwoUriSans()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var ca = root.CreateIntermediate("cluster1");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(Sleep.ToString()));
        san.AddUri(new Uri("spiffe://cluster.local/ns/istio-system/sa/istiod"));
        request.CertificateExtensions.Add(san.Build());
        var e = Assert.Throws<UnauthorizedAccessException>(() => ca.SignWorkload(request.CreateSigningRequestPem(), Sleep));
        Assert.Contains("exactly one URI SAN", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SignWorkload_RefusesAnRsaKeyAndATamperedCsr()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var ca = root.CreateIntermediate("cluster1");
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest(new X500DistinguishedName(""), rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(Sleep.ToString()));
        request.CertificateExtensions.Add(san.Build());
        Assert.Contains("ECDSA P-256", Assert.Throws<UnauthorizedAccessException>(() => ca.SignWorkload(request.CreateSigningRequestPem(), Sleep)).Message, StringComparison.Ordinal);

        var (key, csr) = WorkloadCsr.Create(Sleep);
        key.Dispose();
        var der = Convert.FromBase64String(string.Concat(csr.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));
        der[^5] ^= 0xFF;
        var tampered = PemEncoding.WriteString("CERTIFICATE REQUEST", der);
        Assert.Throws<UnauthorizedAccessException>(() => ca.SignWorkload(tampered, Sleep));
    }

    [Fact]
    public void MeshTrust_RefusesAChainFromAnotherRoot_AndAnExpiredLeaf()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var other = CertificateAuthority.CreateRoot("Other");
        using var foreign = other.CreateIntermediate("cluster9");
        var (key, csr) = WorkloadCsr.Create(Sleep);
        key.Dispose();
        var chain = foreign.SignWorkload(csr, Sleep);
        Assert.False(MeshTrust.TryValidate(chain[0], chain.Skip(1), [root.Root], out var error));
        Assert.NotEmpty(error);

        Assert.True(MeshTrust.TryValidate(chain[0], chain.Skip(1), [other.Root], out _));
        Assert.False(MeshTrust.TryValidate(chain[0], chain.Skip(1), [other.Root], out error, DateTime.Now.AddDays(2)));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void WorkloadIdentity_RefusesAnotherTrustDomain()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var ca = root.CreateIntermediate("cluster1");
        var id = new SpiffeId("evil.example", "sample", "sleep");
        var (key, csr) = WorkloadCsr.Create(id);
        key.Dispose();
        var chain = ca.SignWorkload(csr, id);
        Assert.False(WorkloadIdentity.TryRead(chain[0], "cluster.local", out _, out var error));
        Assert.Contains("trust domain 'evil.example'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void CaDirectory_WritesIstiosCacertsLayout_LoadsItBack_AndNeverOverwritesAKey()
    {
        using var temp = new TempDirectory("causeway-ca");
        var dir = temp.Path;
        using var root = CertificateAuthority.CreateRoot();
        CaDirectory.WriteRoot(root, Path.Combine(dir, "root"));
        using var loadedRoot = CaDirectory.LoadRoot(Path.Combine(dir, "root", "root-cert.pem"), Path.Combine(dir, "root", "root-key.pem"));
        using var c1 = loadedRoot.CreateIntermediate("cluster1");
        using var c2 = loadedRoot.CreateIntermediate("cluster2");
        CaDirectory.WriteIntermediate(c1, Path.Combine(dir, "c1"));
        CaDirectory.WriteIntermediate(c2, Path.Combine(dir, "c2"));

        using var l1 = CaDirectory.LoadIntermediate(Path.Combine(dir, "c1"));
        using var l2 = CaDirectory.LoadIntermediate(Path.Combine(dir, "c2"));
        Assert.Equal(l1.RootPem, l2.RootPem);
        Assert.NotEqual(l1.Signer.Thumbprint, l2.Signer.Thumbprint);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "c1", "ca-key.pem")));
        Assert.Throws<IOException>(() => CaDirectory.WriteIntermediate(c2, Path.Combine(dir, "c1")));

        // A workload certificate from cluster 2 validates against cluster 1's root: one mesh, one root.
        var (key, csr) = WorkloadCsr.Create(Sleep);
        key.Dispose();
        var chain = l2.SignWorkload(csr, Sleep);
        Assert.True(MeshTrust.TryValidate(chain[0], chain.Skip(1), MeshTrust.LoadBundle(l1.RootPem), out var error), error);
    }

    [Fact]
    public void CaDirectory_AcceptsABundleThatHoldsTheChainsRoot_AsARootRotationWrites()
    {
        using var temp = new TempDirectory("causeway-ca");
        var dir = temp.Path;
        using var root = CertificateAuthority.CreateRoot();
        using var next = CertificateAuthority.CreateRoot("Next");
        using var c1 = root.CreateIntermediate("cluster1");
        CaDirectory.WriteIntermediate(c1, dir);
        File.WriteAllText(Path.Combine(dir, "root-cert.pem"), next.RootPem + "\n" + root.RootPem);
        using var loaded = CaDirectory.LoadIntermediate(dir);
        Assert.Equal(2, CaDirectory.LoadTrustBundle(dir).Count);
        Assert.True(MeshTrust.ShareARoot(root.RootPem, next.RootPem + "\n" + root.RootPem));
        Assert.False(MeshTrust.ShareARoot(root.RootPem, next.RootPem));
    }

    [Fact]
    public void CaDirectory_RefusesARootThatIsNotTheChainsRoot()
    {
        using var temp = new TempDirectory("causeway-ca");
        var dir = temp.Path;
        using var root = CertificateAuthority.CreateRoot();
        using var other = CertificateAuthority.CreateRoot("Other");
        using var c1 = root.CreateIntermediate("cluster1");
        CaDirectory.WriteIntermediate(c1, dir);
        File.WriteAllText(Path.Combine(dir, "root-cert.pem"), other.RootPem);
        var e = Assert.Throws<InvalidOperationException>(() => CaDirectory.LoadIntermediate(dir));
        Assert.Contains("does not hold the root", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnIntermediateAndItsRootMayBeDisposedInEitherOrder()
    {
        var root = CertificateAuthority.CreateRoot();
        using (root.CreateIntermediate("cluster1"))
        {
        }

        Assert.Contains("BEGIN CERTIFICATE", root.RootPem, StringComparison.Ordinal);
        using var cluster2 = root.CreateIntermediate("cluster2");
        root.Dispose();
        var (key, csr) = WorkloadCsr.Create(Sleep);
        key.Dispose();
        Assert.Equal(3, cluster2.SignWorkload(csr, Sleep).Count);
    }

    [Fact]
    public void IssueServing_CoversTheNamesAndAddressesClientsDial()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var ca = root.CreateIntermediate("cluster1");
        using var cert = ca.IssueServing(["istiod.istio-system.svc"], [IPAddress.Parse("127.0.9.1")], null, TimeSpan.FromDays(1));
        Assert.True(cert.HasPrivateKey);
        Assert.True(cert.MatchesHostname("istiod.istio-system.svc"));
        Assert.True(cert.MatchesHostname("127.0.9.1"));
        Assert.False(cert.MatchesHostname("127.0.9.2"));
    }

    [Fact]
    public void ACaThatExpiredWhileRunning_RefusesToSignWithTheReason()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var expired = root.CreateIntermediate("cluster1", lifetime: TimeSpan.FromMinutes(-1));
        var (key, csr) = WorkloadCsr.Create(Sleep);
        key.Dispose();
        var error = Assert.Throws<InvalidOperationException>(() => expired.SignWorkload(csr, Sleep));
        Assert.Contains("the cluster's CA certificate 'O=Causeway, L=cluster1, CN=Intermediate CA cluster1' expired at", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACsrWithAMalformedSubjectAltName_IsRefusedWithTheReason_NotAnAsnException()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var ca = root.CreateIntermediate("cluster1");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension("2.5.29.17", [0x30, 0x05, 0x86, 0x7f, 0x41], critical: true));
        var error = Assert.Throws<UnauthorizedAccessException>(() => ca.SignWorkload(request.CreateSigningRequestPem(), Sleep));
        Assert.Contains("subjectAltName", error.Message, StringComparison.Ordinal);
    }
}
