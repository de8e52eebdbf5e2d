using Causeway.Testing;

namespace Causeway.Cli.Tests.Commands;

/// <summary>The lab's commands as a user types them, in a lab and config of the test's own.</summary>
public class LabCommandTests
{
    [Fact]
    public async Task APodInANamespaceOfAnotherRevisionIsRefusedWithTheReason_AndLabDownLeavesNoProcess()
    {
        using var home = new TempDirectory("causeway-lab-test");
        var environment = new Dictionary<string, string> { ["CAUSEWAY_CONFIG"] = home.Combine("config.json"), ["CAUSEWAY_LAB"] = home.Combine("lab") };
        async Task<(int Code, string Output)> Run(params string[] args) => await CausewayProcess.RunAsync(TimeSpan.FromSeconds(90), environment, args);
        try
        {
            Assert.Equal(0, (await Run("lab", "create", "cluster1", "--network", "network1", "--revision", "asm-1134-4")).Code);
            var controlPlane = Processes(home.Path).Single(p => p.CommandLine.Contains("control-plane\0", StringComparison.Ordinal));
            var variables = File.ReadAllText(Path.Combine(controlPlane.Directory, "environ")).Split('\0');
            Assert.Contains("DOTNET_TieredPGO=0", variables);
            Assert.Contains("DOTNET_TC_CallCountingDelayMs=0", variables);
            Assert.Equal(0, (await Run("create", "namespace", "sample")).Code);
            Assert.Equal(0, (await Run("label", "namespace", "sample", "istio.io/rev=canary")).Code);

            var (code, output) = await Run("lab", "deploy", "sleep", "-n", "sample");
            Assert.NotEqual(0, code);
            Assert.Contains("labelled istio.io/rev=canary, but this control plane serves revision 'asm-1134-4'", output, StringComparison.Ordinal);

            (code, output) = await Run("gen-eastwest-gateway", "--network", "network1", "--revision", "canary");
            Assert.Equal(0, code);
            var manifest = home.Combine("gw.yaml");
            await File.WriteAllTextAsync(manifest, output);
            (code, output) = await Run("install", "-y", "-f", manifest);
            Assert.Equal(1, code);
            Assert.Contains("serves revision 'asm-1134-4'; regenerate it with --revision asm-1134-4", output, StringComparison.Ordinal);
        }
        finally
        {
            var (code, _) = await Run("lab", "down");
            Assert.Equal(0, code);
        }

        Assert.False(Directory.Exists(home.Combine("lab")));
        var stray = Processes(home.Path);
        Assert.Empty(stray);
    }

    /// <summary>The /proc directories and command lines of the processes whose command line names <paramref name="path"/>.</summary>
    private static List<(string Directory, string CommandLine)> Processes(string path)
    {
        var found = new List<(string, string)>();
        foreach (var directory in Directory.GetDirectories("/proc").Where(d => Path.GetFileName(d).All(char.IsAsciiDigit)))
        {
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
                if (commandLine.Contains(path, StringComparison.Ordinal))
                {
                    found.Add((directory, commandLine));
                }
            }
            catch (IOException)
            {
                // It ended while being listed.
            }
        }

        return found;
    }
}
