using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Causeway.Api.V1;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Topology;
using Causeway.Core.Identity;
using Causeway.Core.Naming;
using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;

namespace Causeway.ControlPlane.Discovery;

/// <summary>Builds the whole configuration one proxy needs from a topology: services and endpoints as its network sees them, policies, trust bundle.</summary>
public sealed class ProxyConfigBuilder(ControlPlaneOptions options, Func<string> trustBundlePem)
{
    /// <summary>Istio's root namespace: policies there apply to the whole mesh.</summary>
    public const string RootNamespace = "istio-system";

    // Every proxy with the same network and network view sees the same services and endpoints: build that part once
    // per topology and share it (the messages are never mutated after building). Old topologies' entries go with them.
    private readonly ConditionalWeakTable<MeshTopology, ConcurrentDictionary<string, Lazy<ServicesView>>> _views = new();

    // The last view built for each (network, network view), which the next one reuses for the services that did not change.
    private readonly ConcurrentDictionary<string, ViewBuild> _lastBuilds = new(StringComparer.Ordinal);

    // The local policies, found once per topology rather than by scanning every resource for every proxy, and kept for
    // the next topology while the local cluster's resources are the same object (a change in a remote cluster).
    private readonly ConditionalWeakTable<MeshTopology, LocalPolicies> _policies = new();
    private LocalPolicies? _lastPolicies;

    /// <summary>The local cluster's policies of one topology; DestinationRules by the FQDN of their host.</summary>
    private sealed record LocalPolicies(ImmutableDictionary<ResourceKey, Resource> Resources, ChangeLog? Changes, List<Resource> AuthorizationPolicies, List<Resource> PeerAuthentications, List<Resource> Gateways, Dictionary<string, Resource> DestinationRules);

    /// <summary>The whole configuration of one proxy: its own part with the view of its network.</summary>
    public ProxyConfig Build(MeshTopology topology, ProxyNode node)
    {
        var config = BuildOwn(topology, node);
        var services = ServicesFor(topology, node);
        config.Services.AddRange(services.Services);
        config.Withheld.AddRange(services.Withheld);
        return config;
    }

    /// <summary>The part of a proxy's configuration that is its own (policies that select it, trust bundle, mTLS mode, exposed hosts), without the services and withheld endpoints of <see cref="ServicesFor"/>.</summary>
    public ProxyConfig BuildOwn(MeshTopology topology, ProxyNode node)
    {
        var labels = WorkloadLabels(topology, node);
        var config = new ProxyConfig
        {
            MeshId = options.MeshId,
            TrustDomain = options.TrustDomain,
            Cluster = options.Cluster,
            Network = node.Network,
            TrustBundlePem = trustBundlePem(),
            PeerAuthenticationMode = PeerAuthenticationMode(Policies(topology).PeerAuthentications, node.Namespace, labels),
        };

        foreach (var policy in Policies(topology).AuthorizationPolicies)
        {
            var spec = policy.SpecAs<AuthorizationPolicySpec>();
            if (Applies(policy.Metadata.Namespace, spec.Selector, node.Namespace, labels))
            {
                config.AuthorizationPolicies.Add(ToConfig(policy, spec));
            }
        }

        if (node.Role == ProxyRole.Gateway)
        {
            foreach (var gateway in Policies(topology).Gateways)
            {
                var spec = gateway.SpecAs<GatewaySpec>();
                if (spec.Selector.Count == 0 || !spec.Selector.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value))
                {
                    continue;
                }

                foreach (var server in spec.Servers)
                {
                    var exposed = new ExposedHosts { Port = server.Port!.Number, Gateway = gateway.Key.ToString() };
                    exposed.Hosts.AddRange(server.Hosts);
                    config.ExposedHosts.Add(exposed);
                }
            }
        }

        return config;
    }

    private LocalPolicies Policies(MeshTopology topology) => _policies.GetValue(topology, t =>
    {
        var last = Volatile.Read(ref _lastPolicies);
        if (last is not null && ReferenceEquals(last.Resources, t.Local.Resources))
        {
            return last;
        }

        // Finding the policies walks every local resource, four times; a change that touched none of them (a workload
        // came or went) keeps them.
        if (t.Local.Changes is { } now && now.NoneSince(last?.Changes, IsPolicy))
        {
            var kept = last with { Resources = t.Local.Resources, Changes = now };
            Volatile.Write(ref _lastPolicies, kept);
            return kept;
        }

        var policies = new LocalPolicies(t.Local.Resources, t.Local.Changes, Sorted(t, ResourceKinds.AuthorizationPolicy), Sorted(t, ResourceKinds.PeerAuthentication), Sorted(t, ResourceKinds.Gateway), DestinationRules(t));
        Volatile.Write(ref _lastPolicies, policies);
        return policies;
    });

    /// <summary>The kinds <see cref="LocalPolicies"/> is collected from (keep the two together): a change to any other kind keeps them.</summary>
    private static bool IsPolicy(ResourceKey key) =>
        key.Kind == ResourceKinds.AuthorizationPolicy.Name || key.Kind == ResourceKinds.PeerAuthentication.Name || key.Kind == ResourceKinds.Gateway.Name || key.Kind == ResourceKinds.DestinationRule.Name;

    /// <summary>The first rule for a host wins; by host so that many services and rules cost no product of the two.</summary>
    private static Dictionary<string, Resource> DestinationRules(MeshTopology topology)
    {
        var rules = new Dictionary<string, Resource>(StringComparer.Ordinal);
        foreach (var r in topology.Local.OfKind(ResourceKinds.DestinationRule))
        {
            rules.TryAdd(Hostname(r.SpecAs<DestinationRuleSpec>().Host, r.Metadata.Namespace), r);
        }

        return rules;
    }

    private static List<Resource> Sorted(MeshTopology topology, ResourceKind kind) =>
        topology.Local.OfKind(kind).OrderBy(r => r.Key.Namespace, StringComparer.Ordinal).ThenBy(r => r.Key.Name, StringComparer.Ordinal).ToList();

    /// <summary>The services and endpoints as the proxy's network (and network view) sees them, built once per topology for all such proxies.</summary>
    public ServicesView ServicesFor(MeshTopology topology, ProxyNode node)
    {
        var key = node.Network + "|" + string.Join(",", node.RequestedNetworkView.Order(StringComparer.Ordinal));
        // Lazy: a thousand proxies asking at once for a new topology's view wait for one build instead of each running it.
        return _views.GetOrCreateValue(topology).GetOrAdd(key, _ => new Lazy<ServicesView>(() => BuildServices(topology, node, key))).Value;
    }

    /// <summary>What a view was built from, and each service's part of it, for the next build of the same view to reuse.</summary>
    private sealed record ViewBuild(IReadOnlyList<NetworkGateway> Gateways, Dictionary<MeshService, ServicePart> Parts);

    /// <summary>One service's configuration in a view, the endpoints withheld from it (by network), and the DestinationRule it was built with.</summary>
    private sealed record ServicePart(MeshServiceConfig Config, List<WithheldEndpoints> Withheld, Resource? Rule);

    private ServicesView BuildServices(MeshTopology topology, ProxyNode node, string key)
    {
        var rules = Policies(topology).DestinationRules;
        // A service is built again only if it changed (MeshTopology keeps the objects of those that did not), its
        // DestinationRule did, or what every service's configuration depends on did: the gateways (weights, substitutions).
        var before = _lastBuilds.GetValueOrDefault(key);
        var reusable = before is not null && before.Gateways.SequenceEqual(topology.Gateways) ? before.Parts : null;

        // Gateways that only moved (the same networks and clusters, in the same order, so the same weights and nothing
        // newly withheld): a service that did not change keeps its part with the gateways' new addresses put in, which
        // is a fifth of the cost of building it again (B8's full push: 5,000 services after a gateway replica moved).
        var moved = reusable is null && before is not null ? Moves(before.Gateways, topology.Gateways) : null;
        var parts = new Dictionary<MeshService, ServicePart>(topology.Services.Count, ReferenceEqualityComparer.Instance);
        var services = new List<MeshServiceConfig>(topology.Services.Count);
        var withheld = new List<WithheldEndpoints>();
        var view = new NetworkEndpointView(topology);
        IReadOnlySet<string>? networkView = node.RequestedNetworkView.Count > 0 ? node.RequestedNetworkView.ToHashSet() : null;
        foreach (var service in topology.Services.Values)
        {
            var rule = rules.GetValueOrDefault(service.Hostname);
            ServicePart part;
            if (reusable is not null && reusable.TryGetValue(service, out var kept) && ReferenceEquals(kept.Rule, rule))
            {
                part = kept;
            }
            else if (moved is not null && before!.Parts.TryGetValue(service, out kept) && ReferenceEquals(kept.Rule, rule))
            {
                part = Relocated(kept, moved);
            }
            else
            {
                part = BuildService(service, rule, view, node.Network, networkView, options.TrustDomain);
            }

            parts[service] = part;
            services.Add(part.Config);
            withheld.AddRange(part.Withheld);
        }

        _lastBuilds[key] = new ViewBuild(topology.Gateways, parts);
        return new ServicesView(services, withheld);
    }

    /// <summary>Old gateway to new, when every gateway kept its network and cluster at its place in the order; null when any did not.</summary>
    private static Dictionary<NetworkGateway, NetworkGateway>? Moves(IReadOnlyList<NetworkGateway> before, IReadOnlyList<NetworkGateway> now)
    {
        if (before.Count != now.Count)
        {
            return null;
        }

        var moves = new Dictionary<NetworkGateway, NetworkGateway>(before.Count);
        for (var i = 0; i < before.Count; i++)
        {
            if (before[i].Network != now[i].Network || before[i].Cluster != now[i].Cluster || !moves.TryAdd(before[i], now[i]))
            {
                return null;
            }
        }

        return moves;
    }

    /// <summary>
    /// <paramref name="part"/> with its gateway endpoints at the gateways' new addresses. The messages that did not
    /// change are shared with the part before (no message is changed after it is built); every field of
    /// <see cref="MeshServiceConfig"/> and <see cref="ServicePortConfig"/> must be carried here.
    /// </summary>
    private static ServicePart Relocated(ServicePart part, Dictionary<NetworkGateway, NetworkGateway> moved)
    {
        var before = part.Config;
        var sc = new MeshServiceConfig
        {
            Hostname = before.Hostname, Name = before.Name, Namespace = before.Namespace, VirtualAddress = before.VirtualAddress,
            LoadBalancer = before.LoadBalancer, H2Upgrade = before.H2Upgrade,
        };
        sc.Subsets.AddRange(before.Subsets);
        foreach (var port in before.Ports)
        {
            var pc = new ServicePortConfig { Number = port.Number, Name = port.Name, Protocol = port.Protocol };
            foreach (var e in port.Endpoints)
            {
                var at = e.ViaGateway ? new NetworkGateway(e.Network, e.Cluster, e.Address, e.Port) : null;
                pc.Endpoints.Add(at is not null && moved.TryGetValue(at, out var gw) && gw != at ? new LbEndpoint(e) { Address = gw.Address, Port = gw.Port } : e);
            }

            pc.Identities.AddRange(port.Identities);
            sc.Ports.Add(pc);
        }

        return part with { Config = sc };
    }

    private static ServicePart BuildService(MeshService service, Resource? rule, NetworkEndpointView view, string network, IReadOnlySet<string>? networkView, string trustDomain)
    {
        var sc = new MeshServiceConfig { Hostname = service.Hostname, Name = service.Name, Namespace = service.Namespace, VirtualAddress = service.VirtualAddress };
        if (rule is not null)
        {
            var dr = rule.SpecAs<DestinationRuleSpec>();
            sc.LoadBalancer = dr.TrafficPolicy?.LoadBalancer?.Simple?.ToUpperInvariant() switch
            {
                null => "ROUND_ROBIN",
                "LEAST_CONN" => "LEAST_REQUEST",
                var s => s,
            };
            sc.H2Upgrade = dr.UpgradesToHttp2;
            foreach (var subset in dr.Subsets)
            {
                var s = new SubsetConfig { Name = subset.Name };
                foreach (var (k, v) in subset.Labels)
                {
                    s.Labels[k] = v;
                }

                sc.Subsets.Add(s);
            }
        }
        else
        {
            sc.LoadBalancer = "ROUND_ROBIN";
        }

        var withheld = new Dictionary<(string Host, string Network), (HashSet<string> Endpoints, string Reason)>();
        var identities = service.Endpoints.Select(e => new SpiffeId(trustDomain, e.Namespace, e.ServiceAccount).ToString()).Distinct().Order(StringComparer.Ordinal).ToList();
        foreach (var port in service.Ports)
        {
            var pc = new ServicePortConfig { Number = port.Number, Name = port.Name, Protocol = port.Protocol };
            pc.Endpoints.AddRange(view.Endpoints(service, port, network, networkView, withheld));
            pc.Identities.AddRange(identities);
            sc.Ports.Add(pc);
        }

        var withheldEndpoints = new List<WithheldEndpoints>();
        foreach (var ((host, net), (endpoints, reason)) in withheld.OrderBy(w => w.Key.Network, StringComparer.Ordinal))
        {
            withheldEndpoints.Add(new WithheldEndpoints { Hostname = host, Network = net, Count = (uint)endpoints.Count, Reason = reason });
        }

        return new ServicePart(sc, withheldEndpoints, rule);
    }

    /// <summary>
    /// The workload's labels as of this topology: its WorkloadEntry's when registered (so a relabel re-selects policies
    /// on the next push), else those the proxy reported.
    /// </summary>
    public static IReadOnlyDictionary<string, string> WorkloadLabels(MeshTopology topology, ProxyNode node)
    {
        if (topology.Local.Resources.TryGetValue(new ResourceKey(ResourceKinds.WorkloadEntry.Name, node.Namespace, node.WorkloadName), out var entry))
        {
            var spec = entry.SpecAs<WorkloadEntrySpec>();
            return spec.Labels.Count > 0 ? spec.Labels : entry.Metadata.Labels;
        }

        return node.Labels.ToDictionary(l => l.Key, l => l.Value);
    }

    private static string Hostname(string host, string? ns) =>
        host.Contains('.', StringComparison.Ordinal) && host.EndsWith(ServiceHostname.DefaultDomain, StringComparison.Ordinal)
            ? host
            : ServiceHostname.ToFqdn(host, ns ?? "default") ?? host;

    private static bool Applies(string? policyNamespace, LabelSelector? selector, string ns, IReadOnlyDictionary<string, string> labels) =>
        (policyNamespace == RootNamespace && selector is null) ||
        (policyNamespace == ns && (selector is null || selector.MatchLabels.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value)));

    /// <summary>The most specific PeerAuthentication wins: workload, then namespace, then mesh; STRICT when none says otherwise.</summary>
    private static string PeerAuthenticationMode(List<Resource> policies, string ns, IReadOnlyDictionary<string, string> labels)
    {
        string? Mode(Func<Resource, bool> where) => policies.Where(where)
            .Select(p => p.SpecAs<PeerAuthenticationSpec>().Mtls?.Mode?.ToUpperInvariant())
            .FirstOrDefault(m => m is not null and not "UNSET");

        return Mode(p => p.Metadata.Namespace == ns && p.SpecAs<PeerAuthenticationSpec>().Selector is { } s && s.MatchLabels.All(m => labels.TryGetValue(m.Key, out var v) && v == m.Value))
            ?? Mode(p => p.Metadata.Namespace == ns && p.SpecAs<PeerAuthenticationSpec>().Selector is null)
            ?? Mode(p => p.Metadata.Namespace == RootNamespace && p.SpecAs<PeerAuthenticationSpec>().Selector is null)
            ?? "STRICT";
    }

    private static AuthorizationPolicyConfig ToConfig(Resource policy, AuthorizationPolicySpec spec)
    {
        var config = new AuthorizationPolicyConfig { Name = policy.Metadata.Name, Namespace = policy.Metadata.Namespace ?? "", Action = (spec.Action ?? "ALLOW").ToUpperInvariant() };
        foreach (var rule in spec.Rules)
        {
            var rc = new AuthorizationRuleConfig { MatchAll = rule.From.Count == 0 && rule.To.Count == 0 };
            foreach (var from in rule.From)
            {
                rc.Principals.AddRange(from.Source?.Principals ?? []);
                rc.NotPrincipals.AddRange(from.Source?.NotPrincipals ?? []);
                rc.Namespaces.AddRange(from.Source?.Namespaces ?? []);
                rc.NotNamespaces.AddRange(from.Source?.NotNamespaces ?? []);
            }

            foreach (var to in rule.To)
            {
                rc.Ports.AddRange((to.Operation?.Ports ?? []).Select(uint.Parse));
                rc.Methods.AddRange(to.Operation?.Methods ?? []);
                rc.Paths.AddRange(to.Operation?.Paths ?? []);
            }

            config.Rules.Add(rc);
        }

        return config;
    }
}
