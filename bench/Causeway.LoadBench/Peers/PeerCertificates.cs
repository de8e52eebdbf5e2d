using System.Net;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Security;

namespace Causeway.LoadBench.Peers;

/// <summary>
/// Certificates for the HAProxy and nginx pairs, issued by the same cluster intermediate as Causeway's workload
/// certificates (ECDSA P-256, root → intermediate → leaf), so that every pair pays for the same TLS.
/// </summary>
public sealed class PeerCertificates
{
    private readonly string _dir;

    private PeerCertificates(string dir) => _dir = dir;

    public string RootFile => Path.Combine(_dir, "root.pem");

    public string ChainFile(string name) => Path.Combine(_dir, name + "-chain.pem");

    public string KeyFile(string name) => Path.Combine(_dir, name + "-key.pem");

    /// <summary>Chain and key in one file, as HAProxy's <c>crt</c> wants.</summary>
    public string CombinedFile(string name) => Path.Combine(_dir, name + ".pem");

    public static PeerCertificates Issue(string cacertsDir, string dir, string serverName, IPAddress serverAddress)
    {
        Directory.CreateDirectory(dir);
        using var ca = CaDirectory.LoadIntermediate(cacertsDir);
        File.WriteAllText(Path.Combine(dir, "root.pem"), ca.RootPem + "\n");
        var intermediates = string.Concat(ca.Chain.Where(c => c.Subject != c.Issuer).Select(c => c.ExportCertificatePem() + "\n"));
        var certs = new PeerCertificates(dir);
        foreach (var (name, id) in new[] { ("client", SpiffeId.Parse("spiffe://cluster.local/ns/bench/sa/sleep")), ("server", SpiffeId.Parse("spiffe://cluster.local/ns/bench/sa/backend")) })
        {
            using var leaf = ca.IssueServing([serverName], [serverAddress], id, TimeSpan.FromDays(1));
            var key = leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() + "\n";
            var chain = leaf.ExportCertificatePem() + "\n" + intermediates;
            File.WriteAllText(certs.ChainFile(name), chain);
            File.WriteAllText(certs.KeyFile(name), key);
            File.WriteAllText(certs.CombinedFile(name), chain + key);
        }

        return certs;
    }
}
