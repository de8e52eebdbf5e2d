using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Causeway.Api.V1;
using Causeway.ControlPlane;
using Causeway.ControlPlane.Discovery;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Topology;
using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;

namespace Causeway.Benchmarks;

/// <summary>What a push costs the control plane per proxy: one sidecar's whole view of a two-cluster mesh.</summary>
[MemoryDiagnoser]
public class ProxyViewBenchmarks
{
    private MeshTopology _topology = null!;
    private readonly ControlPlaneOptions _options = new() { Cluster = "cluster1", Network = "network1", MeshId = "mesh", DataDirectory = "/nonexistent" };
    private ProxyConfigBuilder _builder = null!;
    private readonly ProxyNode _node = new() { Id = "sleep.sample", Namespace = "sample", ServiceAccount = "sleep", WorkloadName = "sleep", Network = "network1" };

    private MeshSnapshot _snapshot = null!;
    private MeshSnapshot _changed = null!;
    private MeshSnapshot _changedUnlogged = null!;

    [Params(100, 1000, 5000)]
    public int Services { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _builder = new ProxyConfigBuilder(_options, () => "root");
        _snapshot = new MeshSnapshot(1, Cluster("cluster1", "network1", true), ImmutableSortedDictionary<string, ClusterState>.Empty.Add("cluster2", Cluster("cluster2", "network2", false)));
        _topology = MeshTopology.Build(_snapshot);
        var remote = _snapshot.Remotes["cluster2"];
        var added = new Resource
        {
            ApiVersion = "networking.istio.io/v1beta1", Kind = "WorkloadEntry", Metadata = new ObjectMeta { Name = "svc0-added", Namespace = "sample" },
            Spec = new WorkloadEntrySpec { Address = "10.3.0.1", Labels = new Dictionary<string, string> { ["app"] = "svc0" } },
        };
        var changed = remote with { Resources = remote.Resources.SetItem(added.Key, added), Changes = remote.Changes!.Append(added.Key) };
        _changed = _snapshot with { Version = 2, Remotes = _snapshot.Remotes.SetItem("cluster2", changed) };
        _changedUnlogged = _snapshot with { Version = 2, Remotes = _snapshot.Remotes.SetItem("cluster2", changed with { Changes = null }) };
    }

    /// <summary>The topology a push starts from: every cluster's services and endpoints merged.</summary>
    [Benchmark]
    public MeshTopology BuildTopology() => MeshTopology.Build(_snapshot);

    /// <summary>The topology after one endpoint of cluster 2 changed, from the one before, with the change as the remote's watch logged it (what a push does).</summary>
    [Benchmark]
    public MeshTopology BuildTopologyAfterOneChange() => MeshTopology.Build(_changed, _topology);

    /// <summary>The same without a usable change log (a remote listed again, or a log too far behind): every resource of cluster 2 is looked at to find the change.</summary>
    [Benchmark]
    public MeshTopology BuildTopologyAfterOneUnloggedChange() => MeshTopology.Build(_changedUnlogged, _topology);

    /// <summary>The first sidecar of a network after a change: services and endpoints are computed.</summary>
    [Benchmark]
    public ProxyConfig BuildFirstSidecarView() => new ProxyConfigBuilder(_options, () => "root").Build(_topology, _node);

    /// <summary>Every further sidecar of that network for the same topology: the shared part is reused.</summary>
    [Benchmark]
    public ProxyConfig BuildSidecarView() => _builder.Build(_topology, _node);

    /// <summary>Each cluster: Services services with 5 endpoints each (10 across the mesh), and an east-west gateway.</summary>
    private ClusterState Cluster(string name, string network, bool local)
    {
        var resources = ImmutableDictionary.CreateBuilder<ResourceKey, Resource>();
        void Add(Resource r) => resources[r.Key] = r;
        for (var s = 0; s < Services; s++)
        {
            Add(new Resource
            {
                ApiVersion = "networking.istio.io/v1beta1", Kind = "ServiceEntry", Metadata = new ObjectMeta { Name = $"svc{s}", Namespace = "sample" },
                Spec = new ServiceEntrySpec { Hosts = [$"svc{s}.sample.svc.cluster.local"], Ports = [new PortSpec { Number = 8080, Name = "http", Protocol = "HTTP" }], WorkloadSelector = new WorkloadSelector { Labels = new Dictionary<string, string> { ["app"] = $"svc{s}" } } },
            });
            for (var e = 0; e < 5; e++)
            {
                Add(new Resource
                {
                    ApiVersion = "networking.istio.io/v1beta1", Kind = "WorkloadEntry", Metadata = new ObjectMeta { Name = $"svc{s}-{e}", Namespace = "sample" },
                    Spec = new WorkloadEntrySpec { Address = $"10.{(local ? 1 : 2)}.{s / 50}.{(s % 50 * 5) + e}", Labels = new Dictionary<string, string> { ["app"] = $"svc{s}" } },
                });
            }
        }

        Add(new Resource
        {
            ApiVersion = "networking.istio.io/v1beta1", Kind = "ServiceEntry", Metadata = new ObjectMeta { Name = "istio-eastwestgateway", Namespace = "istio-system", Labels = new Dictionary<string, string> { ["topology.istio.io/network"] = network } },
            Spec = new ServiceEntrySpec { Hosts = ["istio-eastwestgateway.istio-system.svc.cluster.local"], Ports = [new PortSpec { Number = 15443, Name = "tls", Protocol = "TLS" }], Endpoints = [new WorkloadEntrySpec { Address = local ? "192.0.2.1" : "192.0.2.2" }] },
        });
        return new ClusterState { Cluster = name, Network = network, IsLocal = local, Synced = true, Resources = resources.ToImmutable(), Changes = local ? null : ChangeLog.Start() };
    }
}
