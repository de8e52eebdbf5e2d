using System.Security.Cryptography.X509Certificates;

namespace Causeway.Core.Security;

/// <summary>
/// A CA on disk in Istio's plug-in <c>cacerts</c> layout: <c>ca-cert.pem</c>, <c>ca-key.pem</c>, <c>cert-chain.pem</c> and
/// <c>root-cert.pem</c>; and a root in <c>root-cert.pem</c> / <c>root-key.pem</c>. Keys are written readable by the owner only.
/// </summary>
public static class CaDirectory
{
    public const string RootCert = "root-cert.pem";
    public const string RootKey = "root-key.pem";
    public const string CaCert = "ca-cert.pem";
    public const string CaKey = "ca-key.pem";
    public const string CertChain = "cert-chain.pem";

    /// <summary>Writes a root CA's certificate and key; refuses to overwrite an existing root.</summary>
    public static void WriteRoot(CertificateAuthority root, string directory)
    {
        Directory.CreateDirectory(directory);
        RefuseOverwrite(Path.Combine(directory, RootKey));
        File.WriteAllText(Path.Combine(directory, RootCert), root.Root.ExportCertificatePem() + "\n");
        WriteKey(Path.Combine(directory, RootKey), root);
    }

    /// <summary>Loads a root CA from its certificate and key files.</summary>
    public static CertificateAuthority LoadRoot(string certPath, string keyPath)
    {
        Require(certPath, "the root certificate (create one with 'causeway ca create-root')");
        Require(keyPath, "the root key");
        var cert = File.ReadAllText(certPath);
        return CertificateAuthority.Load(cert, File.ReadAllText(keyPath), cert);
    }

    /// <summary>Writes a cluster's intermediate in the cacerts layout; refuses to overwrite an existing key.</summary>
    public static void WriteIntermediate(CertificateAuthority intermediate, string directory)
    {
        Directory.CreateDirectory(directory);
        RefuseOverwrite(Path.Combine(directory, CaKey));
        File.WriteAllText(Path.Combine(directory, CaCert), intermediate.Signer.ExportCertificatePem() + "\n");
        WriteKey(Path.Combine(directory, CaKey), intermediate);
        File.WriteAllText(Path.Combine(directory, CertChain), string.Concat(intermediate.Chain.Select(c => c.ExportCertificatePem() + "\n")));
        File.WriteAllText(Path.Combine(directory, RootCert), intermediate.RootPem + "\n");
    }

    /// <summary>True when the directory holds a complete cacerts set.</summary>
    public static bool HasIntermediate(string directory) =>
        new[] { CaCert, CaKey, CertChain, RootCert }.All(f => File.Exists(Path.Combine(directory, f)));

    /// <summary>Loads a cluster's signing CA from a cacerts directory.</summary>
    public static CertificateAuthority LoadIntermediate(string directory)
    {
        foreach (var f in new[] { CaCert, CaKey, CertChain, RootCert })
        {
            Require(Path.Combine(directory, f), "part of the cluster's CA (create it with 'causeway ca create-intermediate')");
        }

        var chain = File.ReadAllText(Path.Combine(directory, CertChain));
        var ca = CertificateAuthority.Load(File.ReadAllText(Path.Combine(directory, CaCert)), File.ReadAllText(Path.Combine(directory, CaKey)), chain);

        // During a root rotation root-cert.pem holds the old and the new root; the chain's own root must be one of them.
        if (!LoadTrustBundle(directory).Cast<X509Certificate2>().Any(r => r.RawDataMemory.Span.SequenceEqual(ca.Root.RawDataMemory.Span)))
        {
            ca.Dispose();
            throw new InvalidOperationException($"{Path.Combine(directory, RootCert)} does not hold the root that {CertChain} ends at; recreate the intermediate from the mesh root, or add its root to the bundle");
        }

        return ca;
    }

    /// <summary>Every root in a cacerts directory's <c>root-cert.pem</c>: the mesh trust bundle (one root, or two during a rotation).</summary>
    public static X509Certificate2Collection LoadTrustBundle(string directory)
    {
        var path = Path.Combine(directory, RootCert);
        var roots = MeshTrust.LoadBundle(File.ReadAllText(path));
        return roots.Count > 0 ? roots : throw new InvalidOperationException($"{path} holds no certificate; it must hold the mesh root");
    }

    private static void WriteKey(string path, CertificateAuthority ca)
    {
        var pem = (ca.Signer.GetECDsaPrivateKey() is { } ec ? ec.ExportPkcs8PrivateKeyPem() : ca.Signer.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem()) + "\n";
        OwnerOnlyFile.CreateNew(path, pem);
    }

    private static void RefuseOverwrite(string path)
    {
        if (File.Exists(path))
        {
            throw new IOException($"{path} already exists; Causeway does not overwrite CA keys. Remove it first if you really mean to replace the CA.");
        }
    }

    private static void Require(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path} is missing: it is {what}", path);
        }
    }
}
