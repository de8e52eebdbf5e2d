using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Store;
using Causeway.Core.Resources;
using Causeway.Testing;

namespace Causeway.ControlPlane.Tests.Store;

public class ResourceStoreTests
{
    private const string Yaml = """
        apiVersion: networking.istio.io/v1beta1
        kind: WorkloadEntry
        metadata: {name: helloworld-v1, namespace: sample, labels: {app: helloworld}}
        spec: {address: 10.1.0.10, labels: {app: helloworld, version: v1}}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: sample, labels: {istio.io/rev: asm-1134-4}}
        """;

    [Fact]
    public void EveryAppliedResourceSurvivesAReopen_WithItsVersion()
    {
        using var dir = new TempDirectory();
        IReadOnlyList<ApplyOutcome> outcomes;
        using (var store = ResourceStore.Open(dir.Path))
        {
            outcomes = new LocalRegistry(store, 100).Apply(ResourceDocuments.ParseYaml(Yaml));
        }

        using var reopened = ResourceStore.Open(dir.Path);
        var registry = new LocalRegistry(reopened, 100);
        Assert.Equal(2, registry.Current.Count);
        Assert.Equal(outcomes[0].ResourceVersion, registry.Current[new ResourceKey("WorkloadEntry", "sample", "helloworld-v1")].Metadata.ResourceVersion);
        Assert.Equal("asm-1134-4", registry.Current[new ResourceKey("Namespace", "", "sample")].Label("istio.io/rev"));
        Assert.Equal(1, reopened.Revision);
    }

    [Fact]
    public void Apply_SaysCreatedConfiguredOrUnchanged_AndDoesNotRewriteTheUnchanged()
    {
        using var dir = new TempDirectory();
        using var store = ResourceStore.Open(dir.Path);
        var registry = new LocalRegistry(store, 100);
        Assert.All(registry.Apply(ResourceDocuments.ParseYaml(Yaml)), o => Assert.Equal("created", o.Outcome));
        Assert.All(registry.Apply(ResourceDocuments.ParseYaml(Yaml)), o => Assert.Equal("unchanged", o.Outcome));
        Assert.Equal(1, store.Revision);

        var changed = registry.Apply(ResourceDocuments.ParseYaml(Yaml.Replace("10.1.0.10", "10.1.0.11", StringComparison.Ordinal)));
        Assert.Equal(["configured", "unchanged"], changed.Select(o => o.Outcome));
        Assert.Equal(2, store.Revision);
    }

    [Fact]
    public async Task Watch_DeliversChangesInOrder_AndDeletes()
    {
        using var dir = new TempDirectory();
        using var store = ResourceStore.Open(dir.Path);
        var registry = new LocalRegistry(store, 100);
        var (snapshot, changes, unsubscribe) = registry.Watch();
        Assert.Empty(snapshot);
        registry.Apply(ResourceDocuments.ParseYaml(Yaml));
        registry.Delete([new ResourceKey("Namespace", "", "sample")]);

        var seen = new List<(RegistryChangeType, string)>();
        for (var i = 0; i < 3; i++)
        {
            var change = await changes.ReadAsync();
            seen.Add((change.Type, change.Resource.Kind));
        }

        unsubscribe();
        Assert.Contains((RegistryChangeType.Added, "WorkloadEntry"), seen);
        Assert.Equal((RegistryChangeType.Deleted, "Namespace"), seen[^1]);
    }

    [Fact]
    public async Task Watch_ClosesAWatcherThatFallsTooFarBehind_SoItReWatches()
    {
        using var dir = new TempDirectory();
        using var store = ResourceStore.Open(dir.Path);
        var registry = new LocalRegistry(store, watchQueueLimit: 2);
        var (_, changes, _) = registry.Watch();
        for (var i = 0; i < 4; i++)
        {
            registry.Apply(ResourceDocuments.ParseYaml(Yaml.Replace("10.1.0.10", $"10.1.0.{20 + i}", StringComparison.Ordinal)));
        }

        var closed = await Assert.ThrowsAsync<System.Threading.Channels.ChannelClosedException>(async () =>
        {
            while (true)
            {
                await changes.ReadAsync();
            }
        });
        Assert.Contains("re-watch", closed.InnerException!.Message, StringComparison.Ordinal);
    }
}
