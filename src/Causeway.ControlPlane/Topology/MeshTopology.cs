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

    // What each cluster contributed, kept so that the next build reuses what did not change (see Build).
    private Dictionary<string, ClusterPart> _parts = [];

    // For each host, the entries (across clusters, in order) its service was merged from.
    private Dictionary<string, List<EntryPart>> _hostEntries = [];

    // The explicit addresses the virtual ones were allocated around, and the allocation: a function of the hosts and
    // those alone, so kept while neither changes.
    private Dictionary<string, string> _explicitAddresses = [];
    private Dictionary<string, string> _allocated = [];

    /// <summary>
    /// Builds the topology of <paramref name="snapshot"/>. With <paramref name="previous"/>, what did not change is
    /// reused rather than built again: a cluster whose resources are the same object contributes what it did before, a
    /// ServiceEntry that selects the same workload objects keeps its endpoints, and a host merged from the same entries
    /// keeps its <see cref="MeshService"/> object, so that views built from it can be reused too (one endpoint changed
    /// among 5,000 services rebuilt the whole mesh on every push).
    /// </summary>
    public static MeshTopology Build(MeshSnapshot snapshot, MeshTopology? previous = null)
    {
        var parts = new Dictionary<string, ClusterPart>(StringComparer.Ordinal);
        var hostEntries = new Dictionary<string, List<EntryPart>>(StringComparer.Ordinal);
        var addresses = new Dictionary<string, string>();
        var gateways = new List<NetworkGateway>();
        foreach (var cluster in snapshot.Clusters)
        {
            var before = previous?._parts.GetValueOrDefault(cluster.Cluster);
            var part = before is not null && ReferenceEquals(before.Resources, cluster.Resources) && before.Network == cluster.Network
                ? before
                : ClusterPart.Build(cluster, before?.Network == cluster.Network ? before : null);
            parts[cluster.Cluster] = part;
            foreach (var entry in part.Entries)
            {
                foreach (var host in entry.Hosts)
                {
                    if (entry.ExplicitAddress is { } vip)
                    {
                        addresses.TryAdd(host, vip);
                    }

                    if (!hostEntries.TryGetValue(host, out var list))
                    {
                        hostEntries[host] = list = [];
                    }

                    list.Add(entry);
                }

                gateways.AddRange(entry.Gateways);
            }
        }

        var allocated = previous is not null && SameHosts(previous, hostEntries, addresses) ? previous._allocated : VirtualAddresses.Allocate(hostEntries.Keys, addresses);
        var services = ImmutableSortedDictionary.CreateBuilder<string, MeshService>(StringComparer.Ordinal);
        foreach (var (host, entries) in hostEntries)
        {
            MeshService service;
            if (previous is not null && previous._hostEntries.TryGetValue(host, out var before) && SameObjects(before, entries, e => e) && previous.Services.TryGetValue(host, out var kept))
            {
                service = kept.VirtualAddress == allocated[host] ? kept : kept with { VirtualAddress = allocated[host] };
            }
            else
            {
                service = Merge(host, entries) with { VirtualAddress = allocated[host] };
            }

            services[host] = service;
        }

        return new MeshTopology
        {
            Version = snapshot.Version,
            Services = services.ToImmutable(),
            Gateways = gateways.Distinct().OrderBy(g => g.Network, StringComparer.Ordinal).ThenBy(g => g.Cluster, StringComparer.Ordinal).ThenBy(g => g.Address, StringComparer.Ordinal).ThenBy(g => g.Port).ToList(),
            Local = snapshot.Local,
            _parts = parts,
            _hostEntries = hostEntries,
            _explicitAddresses = addresses,
            _allocated = allocated,
        };
    }

    /// <summary>True when <paramref name="previous"/> had these very hosts and explicit addresses, so its virtual addresses stand (allocating sorts every host).</summary>
    private static bool SameHosts(MeshTopology previous, Dictionary<string, List<EntryPart>> hosts, Dictionary<string, string> explicitAddresses)
    {
        if (previous._hostEntries.Count != hosts.Count || previous._explicitAddresses.Count != explicitAddresses.Count)
        {
            return false;
        }

        foreach (var host in hosts.Keys)
        {
            if (!previous._hostEntries.ContainsKey(host))
            {
                return false;
            }
        }

        foreach (var (host, address) in explicitAddresses)
        {
            if (!previous._explicitAddresses.TryGetValue(host, out var before) || before != address)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when both lists hold the very same objects (as <paramref name="of"/> picks them) in the same order.</summary>
    private static bool SameObjects<T>(List<T> a, List<T> b, Func<T, object> of)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!ReferenceEquals(of(a[i]), of(b[i])))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>One host's service from the entries that define it, in cluster order (namespace sameness).</summary>
    private static MeshService Merge(string host, List<EntryPart> entries)
    {
        MeshService? service = null;
        foreach (var entry in entries)
        {
            service = service is null
                ? new MeshService { Hostname = host, Name = host.Split('.')[0], Namespace = entry.Namespace, Ports = entry.Ports, Endpoints = entry.Endpoints, Clusters = [entry.Cluster] }
                : service with
                {
                    Ports = service.Ports.Concat(entry.Ports.Where(p => service.Ports.All(e => e.Number != p.Number))).ToList(),
                    Endpoints = [.. service.Endpoints, .. entry.Endpoints],
                    Clusters = service.Clusters.Contains(entry.Cluster) ? service.Clusters : [.. service.Clusters, entry.Cluster],
                };
        }

        return service!;
    }

    /// <summary>What one cluster's resources contribute: an <see cref="EntryPart"/> per ServiceEntry, in namespace and name order.</summary>
    private sealed record ClusterPart(ImmutableDictionary<ResourceKey, Resource> Resources, string Network, List<EntryPart> Entries, WorkloadIndex Workloads, ChangeLog? Changes)
    {
        /// <summary>
        /// How many WorkloadEntries may change between two builds for the index and the selections of the entries
        /// they do not touch to be kept: a full push of B8 (a gateway replica moves) changes one of 25,000, and indexing
        /// them all again was half of the cluster's part of the build (the topology's share of the push's control-plane
        /// CPU went from 13% to 4% in a perf profile).
        /// </summary>
        private const int IncrementalWorkloads = 64;

        public static ClusterPart Build(ClusterState cluster, ClusterPart? before)
        {
            if (before?.Changes is { } built && cluster.Changes is { } now && now.TryGetSince(built, IncrementalWorkloads, out var keys))
            {
                return BuildFrom(before, cluster, keys);
            }

            // One pass over the cluster's resources for both kinds: walking an immutable dictionary of 30,000 resources
            // is a tree walk, and each walk was 1.5-2.5% of a full push's CPU (B8).
            var workloadEntries = new List<Resource>();
            var serviceEntries = new List<Resource>();
            foreach (var r in cluster.Resources.Values)
            {
                if (r.Kind == ResourceKinds.WorkloadEntry.Name)
                {
                    workloadEntries.Add(r);
                }
                else if (r.Kind == ResourceKinds.ServiceEntry.Name)
                {
                    serviceEntries.Add(r);
                }
            }

            var changed = new List<Resource>();
            var updated = before?.Workloads.Update(workloadEntries, IncrementalWorkloads, changed);
            var workloads = updated ?? WorkloadIndex.Of(workloadEntries);
            var previous = new Dictionary<ResourceKey, EntryPart>();
            foreach (var e in before?.Entries ?? [])
            {
                previous[e.Key] = e;
            }

            var entries = new List<EntryPart>();
            serviceEntries.Sort(static (a, b) => InEntryOrder(a.Key, b.Key));
            foreach (var entry in serviceEntries)
            {
                var spec = entry.SpecAs<ServiceEntrySpec>();
                var ns = entry.Metadata.Namespace ?? "default";
                var same = previous.TryGetValue(entry.Key, out var kept) && ReferenceEquals(kept.Entry, entry);
                if (same && updated is not null && !SelectsAny(spec, ns, changed))
                {
                    entries.Add(kept!);
                    continue;
                }

                entries.Add(Reselected(cluster, entry, spec, ns, workloads, same ? kept : null));
            }

            return new ClusterPart(cluster.Resources, cluster.Network, entries, workloads, cluster.Changes);
        }

        /// <summary>
        /// The part from the one before when the cluster's change log names what changed since: only those keys are
        /// looked at, where the build above walks every resource and looks every workload up to find them.
        /// </summary>
        private static ClusterPart BuildFrom(ClusterPart before, ClusterState cluster, List<ResourceKey> keys)
        {
            var removed = new List<Resource>();
            var added = new List<Resource>();
            var changedEntries = new HashSet<ResourceKey>();
            foreach (var key in new HashSet<ResourceKey>(keys))
            {
                before.Resources.TryGetValue(key, out var old);
                cluster.Resources.TryGetValue(key, out var now);
                if (ReferenceEquals(old, now))
                {
                    continue;
                }

                if (key.Kind == ResourceKinds.WorkloadEntry.Name)
                {
                    if (old is not null)
                    {
                        removed.Add(old);
                    }

                    if (now is not null)
                    {
                        added.Add(now);
                    }
                }
                else if (key.Kind == ResourceKinds.ServiceEntry.Name)
                {
                    changedEntries.Add(key);
                }
            }

            var workloads = before.Workloads.Apply(removed, added);
            var changed = new List<Resource>(removed.Count + added.Count);
            changed.AddRange(removed);
            changed.AddRange(added);
            var entries = new List<EntryPart>(before.Entries.Count + changedEntries.Count);
            foreach (var kept in before.Entries)
            {
                if (changedEntries.Contains(kept.Key))
                {
                    continue;
                }

                var spec = kept.Entry.SpecAs<ServiceEntrySpec>();
                if (!SelectsAny(spec, kept.Namespace, changed))
                {
                    entries.Add(kept);
                    continue;
                }

                entries.Add(Reselected(cluster, kept.Entry, spec, kept.Namespace, workloads, kept));
            }

            var inserted = false;
            foreach (var key in changedEntries)
            {
                if (cluster.Resources.TryGetValue(key, out var entry))
                {
                    var spec = entry.SpecAs<ServiceEntrySpec>();
                    var ns = entry.Metadata.Namespace ?? "default";
                    entries.Add(Reselected(cluster, entry, spec, ns, workloads, kept: null));
                    inserted = true;
                }
            }

            if (inserted)
            {
                entries.Sort(static (a, b) => InEntryOrder(a.Key, b.Key));
            }

            return new ClusterPart(cluster.Resources, cluster.Network, entries, workloads, cluster.Changes);
        }

        /// <summary>The order of a cluster's entries, which the hosts' entries follow: namespace, then name.</summary>
        private static int InEntryOrder(ResourceKey a, ResourceKey b) =>
            Comparer<string>.Default.Compare(a.Namespace, b.Namespace) is var byNamespace and not 0 ? byNamespace : Comparer<string>.Default.Compare(a.Name, b.Name);

        /// <summary>The entry's part with its workloads selected again: <paramref name="kept"/> itself when it selected the very same workload objects.</summary>
        private static EntryPart Reselected(ClusterState cluster, Resource entry, ServiceEntrySpec spec, string ns, WorkloadIndex workloads, EntryPart? kept)
        {
            var selected = Selected(workloads, ns, spec);
            return kept is not null && SameObjects(kept.Selected, selected, w => w.Workload) ? kept : EntryPart.Build(cluster, entry, spec, ns, selected);
        }

        /// <summary>Whether the entry's selector matches any of <paramref name="workloads"/> (the versions before and after a change).</summary>
        private static bool SelectsAny(ServiceEntrySpec spec, string ns, List<Resource> workloads)
        {
            if (spec.WorkloadSelector is not { } selector)
            {
                return false;
            }

            foreach (var w in workloads)
            {
                if (WorkloadIndex.NamespaceOf(w) == ns && WorkloadIndex.Matches(selector.Labels, WorkloadIndex.LabelsOf(w)))
                {
                    return true;
                }
            }

            return false;
        }

        private static List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)> Selected(WorkloadIndex workloads, string ns, ServiceEntrySpec spec)
        {
            var selected = new List<(Resource, IReadOnlyDictionary<string, string>)>();
            if (spec.WorkloadSelector is { } selector)
            {
                foreach (var (w, labels) in workloads.Candidates(ns, selector.Labels))
                {
                    if (WorkloadIndex.Matches(selector.Labels, labels))
                    {
                        selected.Add((w, labels));
                    }
                }
            }

            return selected;
        }
    }

    /// <summary>What one ServiceEntry contributes: its hosts, ports, endpoints (and, labelled with a network, that network's gateways).</summary>
    private sealed record EntryPart(
        ResourceKey Key,
        Resource Entry,
        List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)> Selected,
        string Cluster,
        string Namespace,
        IReadOnlyList<string> Hosts,
        string? ExplicitAddress,
        List<MeshServicePort> Ports,
        List<MeshEndpoint> Endpoints,
        List<NetworkGateway> Gateways)
    {
        public static EntryPart Build(ClusterState cluster, Resource entry, ServiceEntrySpec spec, string ns, List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)> selected)
        {
            var endpoints = MeshTopology.Endpoints(cluster, ns, spec, selected);
            var ports = spec.Ports.Select(p => new MeshServicePort(p.Number, p.Name ?? "", (p.Protocol ?? "tcp").ToLowerInvariant(), p.TargetPort)).ToList();
            var gateways = new List<NetworkGateway>();
            if (entry.Label(NetworkLabel) is { Length: > 0 } network)
            {
                var gatewayPort = uint.TryParse(entry.Label(GatewayPortLabel), out var p) ? p : GatewaySpec.EastWestPort;
                var tls = ports.FirstOrDefault(x => x.Number == gatewayPort);
                foreach (var e in endpoints.Where(e => e.Healthy))
                {
                    gateways.Add(new NetworkGateway(network, cluster.Cluster, e.Address, tls is null ? gatewayPort : e.PortFor(tls)));
                }
            }

            return new EntryPart(entry.Key, entry, selected, cluster.Cluster, ns, spec.Hosts, VirtualAddresses.Explicit(spec.Addresses), ports, endpoints, gateways);
        }
    }

    private static List<MeshEndpoint> Endpoints(ClusterState cluster, string ns, ServiceEntrySpec spec, List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)> selected)
    {
        var endpoints = new List<MeshEndpoint>(selected.Count + spec.Endpoints.Count);
        foreach (var (w, labels) in selected)
        {
            endpoints.Add(ToEndpoint(cluster, ns, w.SpecAs<WorkloadEntrySpec>(), labels, w.Metadata.Name, Healthy(w)));
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
