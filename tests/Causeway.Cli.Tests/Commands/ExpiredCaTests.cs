using Causeway.Core.Security;
using Causeway.Testing;

namespace Causeway.Cli.Tests.Commands;

/// <summary>Reliability suite, certificates: an expired root or intermediate stops a process at start with the reason, never a silent hang.</summary>
public class ExpiredCaTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task AControlPlaneWithAnExpiredIntermediate_ExitsAtOnceSayingWhichAndWhatToDo()
    {
        using var dir = new TempDirectory();
        using (var root = CertificateAuthority.CreateRoot())
        using (var intermediate = root.CreateIntermediate("cluster1", lifetime: TimeSpan.FromMinutes(-1)))
        {
            CaDirectory.WriteIntermediate(intermediate, dir.Combine("cacerts"));
        }

        var (code, output) = await CausewayProcess.RunAsync(Limit, "control-plane", "--cluster", "cluster1", "--network", "network1", "--mesh-id", "proj-1234", "--data-dir", dir.Combine("data"), "--ca-dir", dir.Combine("cacerts"), "--listen", LoopbackAddresses.Next(15012, 15014).ToString());

        Assert.NotEqual(0, code);
        Assert.Contains("the CA certificate 'O=Causeway, L=cluster1, CN=Intermediate CA cluster1' expired at", output, StringComparison.Ordinal);
        Assert.Contains("causeway ca create-intermediate", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AControlPlaneUnderAnExpiredRoot_ExitsAtOnceSayingSo()
    {
        using var dir = new TempDirectory();
        using (var root = CertificateAuthority.CreateRoot(lifetime: TimeSpan.FromMinutes(-1)))
        using (var intermediate = root.CreateIntermediate("cluster1"))
        {
            CaDirectory.WriteIntermediate(intermediate, dir.Combine("cacerts"));
        }

        var (code, output) = await CausewayProcess.RunAsync(Limit, "control-plane", "--cluster", "cluster1", "--network", "network1", "--mesh-id", "proj-1234", "--data-dir", dir.Combine("data"), "--ca-dir", dir.Combine("cacerts"), "--listen", LoopbackAddresses.Next(15012, 15014).ToString());

        Assert.NotEqual(0, code);
        Assert.Contains("'O=Causeway, CN=Root CA' expired at", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AProxyGivenAnExpiredRoot_ExitsAtOnceSayingSo()
    {
        using var dir = new TempDirectory();
        using (var root = CertificateAuthority.CreateRoot(lifetime: TimeSpan.FromMinutes(-1)))
        {
            await File.WriteAllTextAsync(dir.Combine("root-cert.pem"), root.RootPem);
        }

        await File.WriteAllTextAsync(dir.Combine("token"), "unused");
        var (code, output) = await CausewayProcess.RunAsync(Limit, "proxy", "--control-plane", "https://127.0.0.1:15012", "--ca-file", dir.Combine("root-cert.pem"), "--token-file", dir.Combine("token"), "--workload", "sleep", "-n", "sample", "--network", "network1", "--address", LoopbackAddresses.Next(15001, 15006).ToString());

        Assert.NotEqual(0, code);
        Assert.Contains("the mesh root 'O=Causeway, CN=Root CA' expired at", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }
}
