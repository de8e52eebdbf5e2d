using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Store;
using Causeway.Core.Resources;
using Causeway.Testing;

namespace Causeway.ControlPlane.Tests.Registry;

public class LocalRegistryTests
{
    private static string Workload(string name, string address) => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: WorkloadEntry
        metadata: {name: {{name}}, namespace: sample}
        spec: {address: {{address}}}
        """;

    private static ResourceKey Key(string name) => new("WorkloadEntry", "sample", name);

    [Fact]
    public void TheContentsLogEveryKeyAWriteChanged_AndNothingForAnUnchangedApply()
    {
        using var dir = new TempDirectory();
        using var store = ResourceStore.Open(dir.Path);
        var registry = new LocalRegistry(store, 100);
        var start = registry.Contents;

        registry.Apply(ResourceDocuments.ParseYaml(Workload("a", "10.0.0.1") + "\n---\n" + Workload("b", "10.0.0.2")));
        registry.Apply(ResourceDocuments.ParseYaml(Workload("a", "10.0.0.1")));
        registry.Apply(ResourceDocuments.ParseYaml(Workload("b", "10.0.0.3")));
        registry.Delete([Key("a"), Key("missing")]);

        var contents = registry.Contents;
        Assert.Same(registry.Current, contents.Resources);
        Assert.True(contents.Changes.TryGetSince(start.Changes, ChangeLog.Capacity, out var keys));
        Assert.Equal([Key("a"), Key("b"), Key("b"), Key("a")], keys);
        Assert.Equal(["10.0.0.3"], contents.Resources.Values.Select(r => r.SpecAs<Causeway.Core.Resources.Specs.WorkloadEntrySpec>().Address));

        // A registry loaded again starts a log of its own, which no earlier one can be read against.
        var reopened = new LocalRegistry(store, 100);
        Assert.False(reopened.Contents.Changes.TryGetSince(contents.Changes, ChangeLog.Capacity, out _));
    }
}
