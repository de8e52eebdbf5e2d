using System.Collections.Immutable;
using Causeway.Api.V1;
using Causeway.ControlPlane.Discovery;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Topology;
using Causeway.Core.Resources;
using Causeway.Testing;

namespace Causeway.ControlPlane.Tests.Discovery;

/// <summary>
/// A push builds from the topology and views before it, reusing what did not change: what it builds must be what a
/// build from nothing gives, and what did not change must be the same objects.
/// </summary>
public class IncrementalBuildTests
{
    private static readonly ControlPlaneOptions Options = new() { Cluster = "cluster1", Network = "network1", MeshId = "mesh", DataDirectory = "/nonexistent" };

    private static readonly ProxyNode Sleep1 = new() { Id = "sleep.sample", Namespace = "sample", ServiceAccount = "sleep", WorkloadName = "sleep", Network = "network1", Role = ProxyRole.Sidecar };

    private static ImmutableDictionary<ResourceKey, Resource> Resources(params string[] yaml) =>
        yaml.SelectMany(y => ResourceDocuments.ParseYaml(y)).ToImmutableDictionary(r => r.Key);

    private static ClusterState Cluster(string name, string network, bool local, ImmutableDictionary<ResourceKey, Resource> resources, ChangeLog? changes = null) =>
        new() { Cluster = name, Network = network, IsLocal = local, Synced = true, Resources = resources, Changes = changes };

    private static readonly ImmutableDictionary<ResourceKey, Resource> Local = Resources(
        Manifests.Service("helloworld", 5000), Manifests.Service("ratings", 9080),
        Manifests.Workload("helloworld-v1", "helloworld", "10.1.0.10", "v1"), Manifests.Workload("ratings-v1", "ratings", "10.1.0.20", "v1", 9080));

    private static readonly ImmutableDictionary<ResourceKey, Resource> Remote = Resources(
        Manifests.Service("helloworld", 5000), Manifests.Service("ratings", 9080),
        Manifests.Workload("helloworld-v2", "helloworld", "10.2.0.10", "v2"), Manifests.Workload("ratings-v2", "ratings", "10.2.0.20", "v2", 9080),
        Manifests.EastWestGateway("192.0.2.2", "network2"));

    private static MeshSnapshot Snapshot(long version, ImmutableDictionary<ResourceKey, Resource> local, ImmutableDictionary<ResourceKey, Resource> remote, ChangeLog? localChanges = null, ChangeLog? remoteChanges = null) =>
        new(version, Cluster("cluster1", "network1", true, local, localChanges), ImmutableSortedDictionary<string, ClusterState>.Empty.Add("cluster2", Cluster("cluster2", "network2", false, remote, remoteChanges)));

    /// <summary><paramref name="log"/> with every key whose resource is not the same object in <paramref name="after"/> as in <paramref name="before"/>, as a watch would have delivered them.</summary>
    private static ChangeLog Logged(ChangeLog log, ImmutableDictionary<ResourceKey, Resource> before, ImmutableDictionary<ResourceKey, Resource> after)
    {
        foreach (var key in before.Keys.Union(after.Keys).OrderBy(k => k.ToString(), StringComparer.Ordinal))
        {
            if (!ReferenceEquals(before.GetValueOrDefault(key), after.GetValueOrDefault(key)))
            {
                log = log.Append(key);
            }
        }

        return log;
    }

    private static ImmutableDictionary<ResourceKey, Resource> With(ImmutableDictionary<ResourceKey, Resource> resources, string yaml)
    {
        foreach (var r in ResourceDocuments.ParseYaml(yaml))
        {
            resources = resources.SetItem(r.Key, r);
        }

        return resources;
    }

    private static string Host(string name) => $"{name}.sample.svc.cluster.local";

    /// <summary>A second replica of cluster 2's east-west gateway: a WorkloadEntry its gateway ServiceEntry selects.</summary>
    private static string Replica(string address) =>
        $"apiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\nmetadata: {{name: istio-eastwestgateway-b, namespace: istio-system}}\nspec: {{address: {address}, labels: {{istio: eastwestgateway}}, serviceAccount: istio-eastwestgateway}}\n";

    public static TheoryData<string> Changes => new()
    {
        "endpoint added in cluster 2", "workload relabelled out of its service", "gateway moved", "service removed", "destination rule added",
        "gateway replica added", "gateway replica moved after the first", "gateway replica moved before the first",
        "endpoint removed in cluster 2", "endpoint replaced by two in cluster 2", "service added in cluster 2",
        "endpoint added in cluster 1", "endpoint removed in cluster 1",
    };

    public static TheoryData<string, bool> ChangesWithAndWithoutLog()
    {
        var data = new TheoryData<string, bool>();
        foreach (var change in Changes)
        {
            data.Add(change, false);
            data.Add(change, true);
        }

        return data;
    }

    /// <summary>With <paramref name="logged"/>, both clusters carry the change log a remote's watch keeps, and the build reads only the keys in it.</summary>
    [Theory]
    [MemberData(nameof(ChangesWithAndWithoutLog))]
    public void WhatAPushBuildsFromTheOneBeforeIsWhatABuildFromNothingGives(string change, bool logged)
    {
        var builder = new ProxyConfigBuilder(Options, () => "root");
        var before = change.StartsWith("gateway replica moved", StringComparison.Ordinal) ? With(Remote, Replica("192.0.2.5")) : Remote;
        var (localLog, remoteLog) = logged ? (ChangeLog.Start(), ChangeLog.Start()) : (null, null);
        var first = MeshTopology.Build(Snapshot(1, Local, before, localLog, remoteLog));
        var firstView = builder.ServicesFor(first, Sleep1);

        var (local, remote) = change switch
        {
            "gateway replica added" => (Local, With(Remote, Replica("192.0.2.5"))),
            "gateway replica moved after the first" => (Local, With(before, Replica("192.0.2.7"))),
            "gateway replica moved before the first" => (Local, With(before, Replica("192.0.2.1"))),
            "endpoint added in cluster 2" => (Local, With(Remote, Manifests.Workload("helloworld-v2b", "helloworld", "10.2.0.11", "v2"))),
            "endpoint added in cluster 1" => (With(Local, Manifests.Workload("helloworld-v1b", "helloworld", "10.1.0.11", "v1")), Remote),
            "endpoint removed in cluster 1" => (Local.Remove(new ResourceKey("WorkloadEntry", "sample", "helloworld-v1")), Remote),
            "endpoint removed in cluster 2" => (Local, Remote.Remove(new ResourceKey("WorkloadEntry", "sample", "helloworld-v2"))),
            "endpoint replaced by two in cluster 2" => (Local, With(With(Remote.Remove(new ResourceKey("WorkloadEntry", "sample", "helloworld-v2")), Manifests.Workload("helloworld-v2c", "helloworld", "10.2.0.12", "v2")), Manifests.Workload("helloworld-v2d", "helloworld", "10.2.0.13", "v2"))),
            "service added in cluster 2" => (Local, With(With(Remote, Manifests.Service("details", 9080)), Manifests.Workload("details-v1", "details", "10.2.0.30", "v1", 9080))),
            "workload relabelled out of its service" => (Local, With(Remote, Manifests.Workload("ratings-v2", "reviews", "10.2.0.20", "v2", 9080))),
            "gateway moved" => (Local, With(Remote, Manifests.EastWestGateway("192.0.2.9", "network2"))),
            "service removed" => (Local.Remove(new ResourceKey("ServiceEntry", "sample", "ratings")), Remote.Remove(new ResourceKey("ServiceEntry", "sample", "ratings"))),
            _ => (With(Local, "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: ratings, namespace: sample}\nspec: {host: ratings, trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}}\n"), Remote),
        };
        var second = MeshTopology.Build(Snapshot(2, local, remote, localLog is null ? null : Logged(localLog, Local, local), remoteLog is null ? null : Logged(remoteLog, before, remote)), first);
        var incremental = builder.Build(second, Sleep1);

        var fromNothing = new ProxyConfigBuilder(Options, () => "root").Build(MeshTopology.Build(Snapshot(2, local, remote)), Sleep1);
        Assert.Equal(fromNothing, incremental);
        Assert.NotEqual(new ProxyConfigBuilder(Options, () => "root").Build(first, Sleep1), incremental);

        // What the change did not touch is the very object of the view before (only a gateway move touches every service).
        var secondView = builder.ServicesFor(second, Sleep1);
        if (change.StartsWith("gateway replica moved", StringComparison.Ordinal))
        {
            // Only the gateways' addresses were put in: the endpoints dialled directly are the objects of the view before.
            Assert.Same(Endpoint(firstView, Host("ratings"), "10.1.0.20"), Endpoint(secondView, Host("ratings"), "10.1.0.20"));
            Assert.Equal(2, secondView.Services.Single(s => s.Hostname == Host("ratings")).Ports[0].Endpoints.Count(e => e.ViaGateway));
        }

        var unchanged = change is "endpoint added in cluster 2" or "endpoint removed in cluster 2" or "endpoint replaced by two in cluster 2" or "endpoint added in cluster 1" or "endpoint removed in cluster 1" ? Host("ratings")
            : change is "workload relabelled out of its service" or "destination rule added" ? Host("helloworld") : null;
        if (unchanged is not null)
        {
            Assert.Same(first.Services[unchanged], second.Services[unchanged]);
            Assert.Same(firstView.Services.Single(s => s.Hostname == unchanged), secondView.Services.Single(s => s.Hostname == unchanged));
            Assert.Single(secondView.ChangesSince(firstView).Changed);
        }
        else if (change == "gateway moved")
        {
            Assert.All(secondView.Services.Where(s => s.Namespace == "sample"), s => Assert.DoesNotContain(firstView.Services, before => ReferenceEquals(before, s)));
        }
    }

    [Fact]
    public void WithAChangeLog_TheBuildLooksOnlyAtTheKeysInIt_AndWithoutAUsableOneAtEveryResource()
    {
        var log = ChangeLog.Start();
        var first = MeshTopology.Build(Snapshot(1, Local, Remote, remoteChanges: log));
        var added = With(Remote, Manifests.Workload("helloworld-v2b", "helloworld", "10.2.0.11", "v2"));
        static int Endpoints(MeshTopology t) => t.Services[Host("helloworld")].Endpoints.Count;

        // A log that does not name the new workload: the build trusts it, so it visited nothing else.
        Assert.Equal(2, Endpoints(MeshTopology.Build(Snapshot(2, Local, added, remoteChanges: log.Append(new ResourceKey("WorkloadEntry", "sample", "ratings-v2"))), first)));
        Assert.Equal(3, Endpoints(MeshTopology.Build(Snapshot(2, Local, added, remoteChanges: log.Append(new ResourceKey("WorkloadEntry", "sample", "helloworld-v2b"))), first)));

        // A log of another list (the remote was listed again), or none: every resource is looked at.
        Assert.Equal(3, Endpoints(MeshTopology.Build(Snapshot(2, Local, added, remoteChanges: ChangeLog.Start()), first)));
        Assert.Equal(3, Endpoints(MeshTopology.Build(Snapshot(2, Local, added), first)));
    }

    /// <summary>
    /// The local policies are kept over a change the local log shows touched none of them (a workload came), and found
    /// again after one that did, in either order.
    /// </summary>
    [Fact]
    public void LocalPoliciesAreKeptOverAWorkloadChange_AndFoundAgainAfterAPolicyChange()
    {
        const string deny = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all, namespace: sample}\nspec: {action: DENY, rules: [{}]}\n";
        var builder = new ProxyConfigBuilder(Options, () => "root");
        var log = ChangeLog.Start();
        var states = new List<ImmutableDictionary<ResourceKey, Resource>> { Local };
        states.Add(With(states[^1], Manifests.Workload("helloworld-v1b", "helloworld", "10.1.0.11", "v1")));
        states.Add(With(states[^1], deny));
        states.Add(With(states[^1], Manifests.Workload("helloworld-v1c", "helloworld", "10.1.0.12", "v1")));
        states.Add(states[^1].Remove(new ResourceKey("AuthorizationPolicy", "sample", "deny-all")));

        MeshTopology? topology = null;
        for (var i = 0; i < states.Count; i++)
        {
            log = i == 0 ? log : Logged(log, states[i - 1], states[i]);
            topology = MeshTopology.Build(Snapshot(i + 1, states[i], Remote, log, ChangeLog.Start()), topology);
            var config = builder.Build(topology, Sleep1);
            Assert.Equal(new ProxyConfigBuilder(Options, () => "root").Build(MeshTopology.Build(Snapshot(i + 1, states[i], Remote)), Sleep1), config);
            Assert.Equal(i is 2 or 3 ? 1 : 0, config.AuthorizationPolicies.Count);
        }
    }

    private static LbEndpoint Endpoint(ServicesView view, string host, string address) =>
        view.Services.Single(s => s.Hostname == host).Ports[0].Endpoints.Single(e => e.Address == address);

    [Fact]
    public void AClusterWhoseResourcesAreTheSameObject_ContributesWhatItDidBefore()
    {
        var first = MeshTopology.Build(Snapshot(1, Local, Remote));
        var again = MeshTopology.Build(Snapshot(2, Local, Remote), first);

        foreach (var (host, service) in first.Services)
        {
            Assert.Same(service, again.Services[host]);
        }

        Assert.Equal(first.Gateways, again.Gateways);
    }
}
