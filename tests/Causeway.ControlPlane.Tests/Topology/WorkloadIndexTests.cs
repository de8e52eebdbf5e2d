using Causeway.ControlPlane.Topology;
using Causeway.Core.Resources;
using Causeway.Testing;

namespace Causeway.ControlPlane.Tests.Topology;

/// <summary>An index updated from the one before holds what an index built from nothing holds, and leaves the one before as it was.</summary>
public class WorkloadIndexTests
{
    private static Resource Workload(string name, string service, string address, string version = "v1") =>
        ResourceDocuments.ParseYaml(Manifests.Workload(name, service, address, version)).Single();

    private static readonly Dictionary<string, string> Helloworld = new() { ["app"] = "helloworld" };

    private static string[] Names(IEnumerable<(Resource Workload, IReadOnlyDictionary<string, string> Labels)> candidates) =>
        candidates.Select(c => c.Workload.Metadata.Name).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void AnUpdatedIndex_FindsWhatOneBuiltFromNothingFinds_AndTheOneBeforeIsUnchanged()
    {
        var a = Workload("helloworld-a", "helloworld", "10.0.0.1");
        var b = Workload("helloworld-b", "helloworld", "10.0.0.2");
        var r = Workload("ratings-a", "ratings", "10.0.0.3");
        var before = WorkloadIndex.Of([a, b, r]);

        var movedB = Workload("helloworld-b", "helloworld", "10.0.0.9", "v2");
        var c = Workload("helloworld-c", "helloworld", "10.0.0.4");
        List<Resource> now = [movedB, r, c];
        var changed = new List<Resource>();
        var updated = before.Update(now, limit: 8, changed);

        Assert.NotNull(updated);
        var fromNothing = WorkloadIndex.Of(now);
        Assert.Equal(Names(fromNothing.Candidates("sample", Helloworld)), Names(updated.Candidates("sample", Helloworld)));
        Assert.Equal(Names(fromNothing.Candidates("sample", new Dictionary<string, string>())), Names(updated.Candidates("sample", new Dictionary<string, string>())));
        Assert.Equal(Names(fromNothing.Candidates("sample", new Dictionary<string, string> { ["version"] = "v2" })), Names(updated.Candidates("sample", new Dictionary<string, string> { ["version"] = "v2" })));
        Assert.Same(movedB, updated.Candidates("sample", new Dictionary<string, string> { ["version"] = "v2" }).Single().Workload);

        // a is gone, b replaced (both versions), c added; r untouched.
        Assert.Equal(4, changed.Count);
        Assert.Contains(a, changed);
        Assert.Contains(b, changed);
        Assert.Contains(movedB, changed);
        Assert.Contains(c, changed);
        Assert.Equal(["helloworld-a", "helloworld-b"], Names(before.Candidates("sample", Helloworld)));
    }

    [Fact]
    public void AnUpdateOfMoreThanTheLimit_IsRefused_AndOneOfNothingIsTheSameIndex()
    {
        var workloads = Enumerable.Range(0, 10).Select(i => Workload($"w{i}", "helloworld", $"10.0.0.{i}")).ToList();
        var index = WorkloadIndex.Of(workloads);

        Assert.Same(index, index.Update(workloads, limit: 2, []));
        var replaced = workloads.Select(w => Workload(w.Metadata.Name, "helloworld", "10.1.0.1")).ToList();
        Assert.Null(index.Update(replaced, limit: 2, []));
        Assert.Null(index.Update([], limit: 2, []));
    }
}
