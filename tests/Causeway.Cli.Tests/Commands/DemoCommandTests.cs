using System.Diagnostics;
using System.Text.RegularExpressions;
using Causeway.Lab;
using Causeway.Testing;
using Xunit.Abstractions;

namespace Causeway.Cli.Tests.Commands;

/// <summary><c>causeway demo</c> as a user runs it: the seed's workflow end to end in real processes, then nothing left behind.</summary>
[Collection(NetnsCollection.Name)]
public class DemoCommandTests(ITestOutputHelper output)
{
    [Fact]
    public Task TheDemoShowsBothVersionsFromBothClusters_ThroughTheGateways_AndLeavesNothingBehind() => RunDemoAsync("loopback");

    [NetnsFact]
    public async Task TheDemoInNetworkNamespaces_RunsTheSeedsPlainCurl_AndRemovesEveryNamespace()
    {
        var before = Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns").Length : 0;
        var text = await RunDemoAsync("netns");
        Assert.Contains("isolation: network namespaces", text, StringComparison.Ordinal);
        Assert.Equal(before, Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns").Length : 0);
    }

    [NativeAotFact]
    public async Task TheDemoWithCausewayProxy_TheProxyCompiledAheadOfTime_ShowsBothVersionsFromBothClusters()
    {
        // What production sidecars and gateways run (and the benchmarks measure): the same proxy, trimmed and compiled
        // ahead of time. Trimming removes what it cannot see used, so this runs the seed's whole path through it.
        using var published = new TempDirectory("causeway-proxy-aot");
        using var publishing = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var (code, stdout, stderr) = await NetworkFabric.RunUncheckedAsync(["dotnet", "publish", Path.Combine(CausewayProcess.RepositoryRoot, "src", "Causeway.ProxyHost"),
            "-c", "Release", "-r", "linux-x64", "-o", published.Path, "-nologo"], cancellationToken: publishing.Token);
        Assert.True(code == 0, stdout + stderr);
        var proxy = published.Combine("causeway-proxy");
        Assert.True(File.Exists(proxy), stdout + stderr);

        var demo = await RunDemoAsync("loopback", new Dictionary<string, string> { ["CAUSEWAY_PROXY"] = proxy });
        Assert.Contains($"proxies: {proxy}", demo, StringComparison.Ordinal);
    }

    private async Task<string> RunDemoAsync(string isolation, IReadOnlyDictionary<string, string>? extra = null)
    {
        using var home = new TempDirectory("causeway-demo-test");
        var environment = new Dictionary<string, string>(extra ?? new Dictionary<string, string>()) { ["CAUSEWAY_CONFIG"] = home.Combine("config.json") };
        var watch = Stopwatch.StartNew();
        var (code, text) = await CausewayProcess.RunAsync(TimeSpan.FromMinutes(3), environment, "demo", "--isolation", isolation);
        output.WriteLine($"demo took {watch.Elapsed.TotalSeconds:0.0} s");
        output.WriteLine(text);

        Assert.True(code == 0, text);
        // Per source cluster: v1 and v2 replies, no failure, the remote network reached through its gateway, and every
        // remote reply served to Sleep's own SPIFFE ID (mTLS end to end through the gateway).
        var rows = Regex.Matches(text, @"(cluster[12])\s+\d+\s+\d+\s+(\d+)/(\d+)\s+(\d+)/(\d+)\s+0\s+yes\s+(\d+)/(\d+)\s+pass");
        Assert.Equal(["cluster1", "cluster2"], rows.Select(r => r.Groups[1].Value));
        foreach (Match row in rows)
        {
            // Both versions over keep-alive and over new connections.
            Assert.All(new[] { 2, 3, 4, 5 }, g => Assert.True(int.Parse(row.Groups[g].Value) > 0, row.Value));
            Assert.Equal(row.Groups[7].Value, row.Groups[6].Value);
        }

        Assert.Contains("cluster1's view after the cleanup: 0 sample endpoints", text, StringComparison.Ordinal);
        Assert.Contains("cluster2's view after the cleanup: 0 sample endpoints", text, StringComparison.Ordinal);

        var converged = Regex.Match(text, @"cluster1's Sleep gets only v1 (\d+) ms after the deletion");
        Assert.True(converged.Success, "no convergence measured");
        output.WriteLine($"convergence after removing v2: {converged.Groups[1].Value} ms");
        Assert.Equal(2, Regex.Count(text, "namespace/sample deleted"));
        Assert.Contains("PASS: both versions answered from both clusters", text, StringComparison.Ordinal);

        var lab = Regex.Match(text, @"in a local lab at (\S+)").Groups[1].Value;
        Assert.False(Directory.Exists(lab), "the lab directory remains");
        var stray = Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(p => p!.All(char.IsAsciiDigit))
            .Where(pid =>
            {
                try
                {
                    return File.ReadAllText($"/proc/{pid}/cmdline").Contains(Path.GetDirectoryName(lab)!, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
            }).ToList();
        Assert.True(stray.Count == 0, "processes left behind: " + string.Join(", ", stray));
        return text;
    }
}
