using Causeway.ControlPlane.Discovery;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Store;
using Causeway.Core.Resources;
using Causeway.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Causeway.ControlPlane.Tests.Discovery;

public class PushSchedulerTests
{
    private static string Workload(int i) => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: WorkloadEntry
        metadata: {name: w{{i}}, namespace: sample}
        spec: {address: 10.0.0.{{i}}}
        """;

    [Fact]
    public async Task ABurstOfChangesYieldsOnePush_WithTheirSumInIt()
    {
        using var dir = new TempDirectory();
        using var store = ResourceStore.Open(dir.Path);
        var options = new ControlPlaneOptions
        {
            Cluster = "cluster1", Network = "network1", MeshId = "mesh", DataDirectory = dir.Path,
            DebounceAfter = TimeSpan.FromMilliseconds(400), DebounceMax = TimeSpan.FromSeconds(10),
        };
        var local = new LocalRegistry(store, 100);
        await using var mesh = new MeshRegistry(local, options, () => "", NullLoggerFactory.Instance);
        await using var scheduler = new PushScheduler(mesh, options);
        var pushed = new List<long>();
        scheduler.Pushed += t => pushed.Add(t.Version);

        for (var i = 1; i <= 20; i++)
        {
            local.Apply(ResourceDocuments.ParseYaml(Workload(i)));
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (scheduler.Pushes == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await Task.Delay(800);
        Assert.Equal(1, scheduler.Pushes);
        Assert.Equal(20, scheduler.Current.Local.OfKind(ResourceKinds.WorkloadEntry).Count());
        Assert.Equal(mesh.Current.Version, Assert.Single(pushed));
    }

    [Fact]
    public async Task ASteadyStreamOfChangesIsStillPushedWithinDebounceMax()
    {
        using var dir = new TempDirectory();
        using var store = ResourceStore.Open(dir.Path);
        var options = new ControlPlaneOptions
        {
            Cluster = "cluster1", Network = "network1", MeshId = "mesh", DataDirectory = dir.Path,
            DebounceAfter = TimeSpan.FromMilliseconds(300), DebounceMax = TimeSpan.FromMilliseconds(600),
        };
        var local = new LocalRegistry(store, 100);
        await using var mesh = new MeshRegistry(local, options, () => "", NullLoggerFactory.Instance);
        await using var scheduler = new PushScheduler(mesh, options);

        // A change every 50 ms never leaves 300 ms of quiet; the 600 ms cap must still push during the stream.
        for (var i = 1; i <= 30 && scheduler.Pushes == 0; i++)
        {
            local.Apply(ResourceDocuments.ParseYaml(Workload(i)));
            await Task.Delay(50);
        }

        Assert.True(scheduler.Pushes >= 1, "no push happened while changes kept coming");
    }
}
