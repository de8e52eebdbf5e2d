using Causeway.Lab;
using Causeway.Testing;

namespace Causeway.Cli.Tests.Commands;

public class LabProcessesTests
{
    [Fact]
    public void APublishedCauseway_RunsTheControlPlanesOnly_AndAProxyExecutableTheProxiesOnly()
    {
        using var dir = new TempDirectory();
        var causeway = dir.Combine("causeway");
        var proxy = dir.Combine("causeway-proxy");
        File.WriteAllText(causeway, "");
        File.WriteAllText(proxy, "");
        var both = new Dictionary<string, string> { [LabProcesses.ControlPlaneExecutable] = causeway, [LabProcesses.ProxyExecutable] = proxy };

        Assert.Equal([causeway, "control-plane", "--cluster", "c1"], LabProcesses.Command(["control-plane", "--cluster", "c1"], both.GetValueOrDefault));
        Assert.Equal([proxy, "--role", "sidecar"], LabProcesses.Command(["proxy", "--role", "sidecar"], both.GetValueOrDefault));
        Assert.Equal([.. LabProcesses.Self(), "app", "--name", "v1"], LabProcesses.Command(["app", "--name", "v1"], both.GetValueOrDefault));

        // Unset (or empty): this build's causeway for every role.
        var none = new Dictionary<string, string> { [LabProcesses.ControlPlaneExecutable] = "" };
        Assert.Equal([.. LabProcesses.Self(), "control-plane"], LabProcesses.Command(["control-plane"], none.GetValueOrDefault));
        Assert.Equal([.. LabProcesses.Self(), "proxy"], LabProcesses.Command(["proxy"], none.GetValueOrDefault));
    }

    [Fact]
    public void AConfiguredExecutableThatDoesNotExist_IsRefused_WithHowToMakeIt()
    {
        var missing = new Dictionary<string, string> { [LabProcesses.ControlPlaneExecutable] = "/nonexistent/causeway" };
        var e = Assert.Throws<InvalidOperationException>(() => LabProcesses.Command(["control-plane"], missing.GetValueOrDefault));
        Assert.Contains("CAUSEWAY_CONTROL_PLANE=/nonexistent/causeway does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("dotnet publish src/Causeway.Cli -c Release -r linux-x64", e.Message, StringComparison.Ordinal);
    }
}
