using Causeway.Testing;

namespace Causeway.Cli.Tests.Commands;

/// <summary>The seed's operator steps through the real <c>causeway</c> executable against two real control planes.</summary>
public sealed class SeedWorkflowCommandTests : IAsyncLifetime
{
    private const string Mesh = "proj-1234";
    private readonly TempDirectory _dir = new("causeway-cli");
    private ControlPlaneProcess? _cluster1;
    private ControlPlaneProcess? _cluster2;

    private Dictionary<string, string> Environment => new() { ["CAUSEWAY_CONFIG"] = _dir.Combine("config.json") };

    public async Task InitializeAsync()
    {
        await Ok("ca", "create-root", "--out", _dir.Combine("root"));
        foreach (var c in new[] { "cluster1", "cluster2" })
        {
            await Ok("ca", "create-intermediate", "--cluster", c, "--root-dir", _dir.Combine("root"), "--out", _dir.Combine(c + "-ca"));
        }

        _cluster1 = await ControlPlaneProcess.StartAsync("cluster1", "network1", Mesh, _dir.Combine("cluster1"), _dir.Combine("cluster1-ca"), LoopbackAddresses.Next(15012, 15014));
        _cluster2 = await ControlPlaneProcess.StartAsync("cluster2", "network2", Mesh, _dir.Combine("cluster2"), _dir.Combine("cluster2-ca"), LoopbackAddresses.Next(15012, 15014));
        await Ok("config", "set-context", "ctx1", "--data-dir", _dir.Combine("cluster1"), "--use");
        await Ok("config", "set-context", "ctx2", "--data-dir", _dir.Combine("cluster2"));
    }

    public async Task DisposeAsync()
    {
        if (_cluster1 is not null)
        {
            await _cluster1.DisposeAsync();
        }

        if (_cluster2 is not null)
        {
            await _cluster2.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task TheSeedsStepsWorkThroughTheCli()
    {
        var contexts = await Ok("config", "get-contexts");
        Assert.Matches(@"\*\s+ctx1\s+cluster1\s+https://", contexts);
        Assert.Contains("ctx2", contexts, StringComparison.Ordinal);

        var manifest = await Ok("gen-eastwest-gateway", "--mesh", Mesh, "--network", "network1", "--revision", "asm-1134-4");
        Assert.Contains("topology.istio.io/network: network1", manifest, StringComparison.Ordinal);
        Assert.Contains("ISTIO_META_REQUESTED_NETWORK_VIEW", manifest, StringComparison.Ordinal);

        // Expose services on both clusters' east-west gateways, with Istio's own file.
        var expose = Path.Combine(CausewayProcess.RepositoryRoot, "samples", "multicluster", "expose-services.yaml");
        foreach (var ctx in new[] { "ctx1", "ctx2" })
        {
            Assert.Contains("gateway.networking.istio.io/cross-network-gateway created", await Ok("apply", "--context", ctx, "-n", "istio-system", "-f", expose), StringComparison.Ordinal);
        }

        Assert.Contains("unchanged", await Ok("apply", "-n", "istio-system", "-f", expose), StringComparison.Ordinal);

        // Endpoint discovery both ways.
        var mesh = await Ok("create-mesh", Mesh, "ctx1", "ctx2");
        Assert.Contains("cluster1: remote secret for cluster2 created", mesh, StringComparison.Ordinal);
        Assert.Contains("cluster2: remote secret for cluster1 created", mesh, StringComparison.Ordinal);
        await Eventually(async () => (await Ok("remote-clusters", "--context", "ctx1")).Contains("synced", StringComparison.Ordinal), "cluster2 synced in cluster1");

        // The namespace, labelled with the revision as the seed does it.
        Assert.Contains("namespace/sample created", await Ok("create", "namespace", "sample"), StringComparison.Ordinal);
        var labelled = await Ok("label", "namespace", "sample", "istio-injection-", "istio.io/rev=default", "--overwrite");
        Assert.Contains("label \"istio-injection\" not found.", labelled, StringComparison.Ordinal);
        Assert.Contains("namespace/sample labeled", labelled, StringComparison.Ordinal);

        // kubectl create -f helloworld.yaml -l service=helloworld, then -l version=v1.
        var helloworld = _dir.Combine("helloworld.yaml");
        await File.WriteAllTextAsync(helloworld, Manifests.Service("helloworld", 5000).Replace("metadata: {name: helloworld, namespace: sample}", "metadata: {name: helloworld, namespace: sample, labels: {service: helloworld}}", StringComparison.Ordinal)
            + "\n---\n" + Manifests.Workload("helloworld-v1", "helloworld", "127.0.0.10", "v1").Replace("metadata: {name: helloworld-v1, namespace: sample}", "metadata: {name: helloworld-v1, namespace: sample, labels: {version: v1}}", StringComparison.Ordinal)
            + "\n---\n" + Manifests.Workload("helloworld-v2", "helloworld", "127.0.0.20", "v2").Replace("metadata: {name: helloworld-v2, namespace: sample}", "metadata: {name: helloworld-v2, namespace: sample, labels: {version: v2}}", StringComparison.Ordinal));
        Assert.Contains("serviceentry.networking.istio.io/helloworld created", await Ok("apply", "-f", helloworld, "-l", "service=helloworld", "-n", "sample"), StringComparison.Ordinal);
        var v1 = await Ok("apply", "-f", helloworld, "-l", "version=v1", "-n", "sample");
        Assert.Contains("workloadentry.networking.istio.io/helloworld-v1 created", v1, StringComparison.Ordinal);
        Assert.DoesNotContain("helloworld-v2", v1, StringComparison.Ordinal);

        var workloads = await Ok("get", "workloadentries", "-n", "sample");
        Assert.Matches(@"helloworld-v1\s+127\.0\.0\.10", workloads);
        Assert.Contains("kind: ServiceEntry", await Ok("get", "se", "helloworld", "-n", "sample", "-o", "yaml"), StringComparison.Ordinal);
        await Eventually(async () => (await Ok("remote-clusters", "--context", "ctx2")).Contains("cluster1", StringComparison.Ordinal), "cluster1 listed in cluster2");

        // Cleanup: kubectl delete ns sample.
        var deleted = await Ok("delete", "namespace", "sample");
        Assert.Contains("workloadentry.networking.istio.io/helloworld-v1 deleted", deleted, StringComparison.Ordinal);
        Assert.Contains("namespace/sample deleted", deleted, StringComparison.Ordinal);
        var (code, empty) = await Run("get", "we", "-n", "sample");
        Assert.Equal(0, code);
        Assert.Contains("No resources found in sample namespace.", empty, StringComparison.Ordinal);
        Assert.Contains("NAME", await Ok("proxy-status"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MistakesGetAClearErrorAndAnExitCode()
    {
        var (code, output) = await Run("get", "ns", "--context", "nope");
        Assert.Equal(1, code);
        Assert.Contains("context 'nope' does not exist; known contexts: ctx1, ctx2", output, StringComparison.Ordinal);

        var bad = _dir.Combine("bad.yaml");
        await File.WriteAllTextAsync(bad, "apiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\nmetadata: {name: w, namespace: sample}\nspec: {adress: 10.0.0.1}\n");
        (code, output) = await Run("apply", "-f", bad);
        Assert.Equal(1, code);
        Assert.Contains("spec.adress (line 4): unknown field 'adress'", output, StringComparison.Ordinal);

        (code, output) = await Run("get", "virtualservices");
        Assert.Equal(1, code);
        Assert.Contains("unknown kind 'virtualservices'", output, StringComparison.Ordinal);

        (code, output) = await Run("create-mesh", "other-mesh", "ctx1", "ctx2");
        Assert.Equal(1, code);
        Assert.Contains("is in mesh 'proj-1234', not 'other-mesh'", output, StringComparison.Ordinal);

        await _cluster2!.StopAsync();
        (code, output) = await Run("get", "ns", "--context", "ctx2");
        Assert.Equal(3, code);
        Assert.Contains("is not reachable", output, StringComparison.Ordinal);
    }

    private Task<(int, string)> Run(params string[] args) => CausewayProcess.RunAsync(TimeSpan.FromSeconds(60), Environment, args);

    private async Task<string> Ok(params string[] args)
    {
        var (code, output) = await Run(args);
        Assert.True(code == 0, $"causeway {string.Join(' ', args)} exited {code}:\n{output}");
        return output;
    }

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting until " + what);
            }

            await Task.Delay(200);
        }
    }
}
