using System.CommandLine;
using System.Security.Cryptography;
using Causeway.Core.Security;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway ca</c>: one root for the whole mesh, one intermediate per cluster, as the seed asks of Istio CA.</summary>
public static class CaCommand
{
    public static Command Create()
    {
        var ca = new Command("ca", "Create the mesh's root CA and each cluster's intermediate CA (Istio's cacerts layout).");
        ca.Subcommands.Add(CreateRoot());
        ca.Subcommands.Add(CreateIntermediate());
        return ca;
    }

    private static Command CreateRoot()
    {
        var output = new Option<string>("--out") { Description = "Directory for root-cert.pem and root-key.pem.", Required = true };
        var organization = new Option<string>("--organization") { Description = "The root's O= name.", DefaultValueFactory = _ => "Causeway" };
        var days = new Option<int>("--lifetime-days") { Description = "Validity of the root.", DefaultValueFactory = _ => 3650 };
        var command = new Command("create-root", "Create the mesh's root CA: one for every cluster (ECDSA P-256).") { output, organization, days };
        command.SetAction(parse => CommandRunner.RunAsync(() =>
        {
            using var root = CertificateAuthority.CreateRoot(parse.GetValue(organization)!, TimeSpan.FromDays(parse.GetValue(days)));
            var dir = Path.GetFullPath(parse.GetValue(output)!);
            CaDirectory.WriteRoot(root, dir);
            Console.WriteLine($"root CA written to {dir} ({CaDirectory.RootCert}, {CaDirectory.RootKey})");
            Console.WriteLine($"  subject     {root.Root.Subject}");
            Console.WriteLine($"  fingerprint SHA256:{root.Root.GetCertHashString(HashAlgorithmName.SHA256)}");
            Console.WriteLine($"  expires     {root.Root.NotAfter.ToUniversalTime():u}");
            Console.WriteLine("Keep root-key.pem offline once every cluster has its intermediate.");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }

    private static Command CreateIntermediate()
    {
        var cluster = new Option<string>("--cluster") { Description = "The cluster this intermediate is for.", Required = true };
        var rootDir = new Option<string?>("--root-dir") { Description = "A directory made by 'causeway ca create-root'." };
        var rootCert = new Option<string?>("--root-cert") { Description = "An existing root certificate (PEM) to import instead of --root-dir." };
        var rootKey = new Option<string?>("--root-key") { Description = "The key of --root-cert (PEM, PKCS#8 or EC)." };
        var output = new Option<string>("--out") { Description = "Directory for ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem (pass it to control-plane --ca-dir).", Required = true };
        var days = new Option<int>("--lifetime-days") { Description = "Validity of the intermediate.", DefaultValueFactory = _ => 730 };
        var command = new Command("create-intermediate", "Create a cluster's intermediate CA signed by the mesh root.") { cluster, rootDir, rootCert, rootKey, output, days };
        command.SetAction(parse => CommandRunner.RunAsync(() =>
        {
            string certPath, keyPath;
            if (parse.GetValue(rootDir) is { } dir)
            {
                certPath = Path.Combine(dir, CaDirectory.RootCert);
                keyPath = Path.Combine(dir, CaDirectory.RootKey);
            }
            else if (parse.GetValue(rootCert) is { } c && parse.GetValue(rootKey) is { } k)
            {
                certPath = c;
                keyPath = k;
            }
            else
            {
                throw new ArgumentException("give the root with --root-dir DIR, or import one with --root-cert FILE --root-key FILE");
            }

            using var root = CaDirectory.LoadRoot(certPath, keyPath);
            using var intermediate = root.CreateIntermediate(parse.GetValue(cluster)!, TimeSpan.FromDays(parse.GetValue(days)));
            var outDir = Path.GetFullPath(parse.GetValue(output)!);
            CaDirectory.WriteIntermediate(intermediate, outDir);
            Console.WriteLine($"intermediate CA for cluster {parse.GetValue(cluster)} written to {outDir}");
            Console.WriteLine($"  subject     {intermediate.Signer.Subject}");
            Console.WriteLine($"  root        SHA256:{intermediate.Root.GetCertHashString(HashAlgorithmName.SHA256)}");
            Console.WriteLine($"Start the control plane with --ca-dir {outDir}");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }
}
