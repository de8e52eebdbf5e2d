using System.Collections.Immutable;
using Causeway.ControlPlane.Registry;
using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;

namespace Causeway.ControlPlane.Topology;

/// <summary>
/// The mesh as proxies need it, derived from a <see cref="MeshSnapshot"/>: services and endpoints from every cluster,
/// the network gateways, and this cluster's own policies. As in Istio's multi-primary mode, remote clusters contribute
/// services and endpoints only; routing and security policy come from the local cluster.
/// </summary>
public sealed record MeshTopology
{
    /// <summary>The label that puts a workload on a network, or makes a ServiceEntry a network's gateway.</summary>
    public const string NetworkLabel = "topology.istio.io/network";

    /// <summary>The label that overrides a network gateway's port (default 15443).</summary>
    public const string GatewayPortLabel = "networking.istio.io/gatewayPort";

    public long Version { get; init; }

    public ImmutableSortedDictionary<string, MeshService> Services { get; init; } = ImmutableSortedDictionary<string, MeshService>.Empty;

    public IReadOnlyList<NetworkGateway> Gateways { get; init; } = [];

    /// <summary>The local cluster's own resources: Gateways, DestinationRules, PeerAuthentications, AuthorizationPolicies, Namespaces.</summary>
    public ClusterState Local { get; init; } = null!;

    public static MeshTopology Build(MeshSnapshot snapshot)
    {
        var services = new Dictionary<string, MeshService>();
        var addresses = new Dictionary<string, string>();
        var gateways = new List<NetworkGateway>();
        foreach (var cluster in snapshot.Clusters)
        {
            var workloads = WorkloadIndex.Of(cluster.OfKind(ResourceKinds.WorkloadEntry));
            foreach (var entry in cluster.OfKind(ResourceKinds.ServiceEntry).OrderBy(r => r.Key.Namespace).ThenBy(r => r.Key.Name))
            {
                var spec = entry.SpecAs<ServiceEntrySpec>();
                var ns = entry.Metadata.Namespace ?? "default";
                var endpoints = Endpoints(cluster, ns, spec, workloads);
                var ports = spec.Ports.Select(p => new MeshServicePort(p.Number, p.Name ?? "", (p.Protocol ?? "tcp").ToLowerInvariant(), p.TargetPort)).ToList();
                foreach (var host in spec.Hosts)
                {
                    if (VirtualAddresses.Explicit(spec.Addresses) is { } vip)
                    {
                        addresses.TryAdd(host, vip);
                    }

                    services[host] = services.TryGetValue(host, out var existing)
                        ? Merge(existing, ports, endpoints, cluster.Cluster)
                        : new MeshService { Hostname = host, Name = host.Split('.')[0], Namespace = ns, Ports = ports, Endpoints = endpoints, Clusters = [cluster.Cluster] };
                }

                if (entry.Label(NetworkLabel) is { Length: > 0 } network)
                {
                    var gatewayPort = uint.TryParse(entry.Label(GatewayPortLabel), out var p) ? p : GatewaySpec.EastWestPort;
                    var tls = ports.FirstOrDefault(x => x.Number == gatewayPort);
                    foreach (var e in endpoints.Where(e => e.Healthy))
                    {
                        gateways.Add(new NetworkGateway(network, cluster.Cluster, e.Address, tls is null ? gatewayPort : e.PortFor(tls)));
                    }
                }
            }
        }

        var allocated = VirtualAddresses.Allocate(services.Keys, addresses);
        return new MeshTopology
        {
            Version = snapshot.Version,
            Services = services.Values.Select(s => s with { VirtualAddress = allocated[s.Hostname] }).ToImmutableSortedDictionary(s => s.Hostname, s => s, StringComparer.Ordinal),
            Gateways = gateways.Distinct().OrderBy(g => g.Network, StringComparer.Ordinal).ThenBy(g => g.Cluster, StringComparer.Ordinal).ThenBy(g => g.Address, StringComparer.Ordinal).ThenBy(g => g.Port).ToList(),
            Local = snapshot.Local,
        };
    }

    private static MeshService Merge(MeshService existing, List<MeshServicePort> ports, List<MeshEndpoint> endpoints, string cluster) => existing with
    {
        Ports = existing.Ports.Concat(ports.Where(p => existing.Ports.All(e => e.Number != p.Number))).ToList(),
        Endpoints = [.. existing.Endpoints, .. endpoints],
        Clusters = existing.Clusters.Contains(cluster) ? existing.Clusters : [.. existing.Clusters, cluster],
    };

    private static List<MeshEndpoint> Endpoints(ClusterState cluster, string ns, ServiceEntrySpec spec, WorkloadIndex workloads)
    {
        var endpoints = new List<MeshEndpoint>();
        if (spec.WorkloadSelector is { } selector)
        {
            foreach (var (w, labels) in workloads.Candidates(ns, selector.Labels))
            {
                if (WorkloadIndex.Matches(selector.Labels, labels))
                {
                    endpoints.Add(ToEndpoint(cluster, ns, w.SpecAs<WorkloadEntrySpec>(), labels, w.Metadata.Name, Healthy(w)));
                }
            }
        }

        foreach (var inline in spec.Endpoints)
        {
            endpoints.Add(ToEndpoint(cluster, ns, inline, inline.Labels, "", healthy: true));
        }

        return endpoints.OrderBy(e => e.Address, StringComparer.Ordinal).ThenBy(e => e.WorkloadName, StringComparer.Ordinal).ToList();
    }

    private static MeshEndpoint ToEndpoint(ClusterState cluster, string ns, WorkloadEntrySpec we, IReadOnlyDictionary<string, string> labels, string name, bool healthy) => new()
    {
        Address = we.Address,
        Ports = we.Ports,
        Labels = labels,
        // Istio's order: the entry's network, its network label, then the network of the cluster that registered it.
        Network = we.Network ?? (labels.TryGetValue(NetworkLabel, out var n) ? n : cluster.Network),
        Cluster = cluster.Cluster,
        Locality = we.Locality ?? "",
        Weight = we.Weight ?? 1,
        Namespace = ns,
        ServiceAccount = we.ServiceAccount ?? "default",
        Healthy = healthy,
        WorkloadName = name,
    };

    /// <summary>Healthy unless the WorkloadEntry's status says <c>Healthy: False</c>, as Istio's health checks report it.</summary>
    private static bool Healthy(Resource workload) =>
        workload.Status?.Conditions.FirstOrDefault(c => c.Type == "Healthy") is not { } c || !c.Status.Equals("False", StringComparison.OrdinalIgnoreCase);
}
