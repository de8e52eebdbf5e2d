using Causeway.Api.V1;
using Causeway.ControlPlane.Topology;
using Causeway.Core.Naming;

namespace Causeway.ControlPlane.Discovery;

/// <summary>
/// The endpoints of a service as a proxy on one network must see them (Istio's EndpointsByNetworkFilter, made loud):
/// endpoints on the proxy's network are dialled directly; endpoints on another network are replaced by that network's
/// east-west gateways, each weighted by the healthy endpoints behind it and split evenly when a network has several
/// gateways (weights scaled so they stay integers). A remote network with no known gateway gets no raw pod addresses:
/// its endpoints are withheld and reported with the reason.
/// </summary>
public sealed class NetworkEndpointView
{
    private readonly MeshTopology _topology;
    private readonly uint _scale;

    public NetworkEndpointView(MeshTopology topology)
    {
        _topology = topology;
        _scale = ScaleFactor(topology.Gateways);
    }

    /// <summary>
    /// The endpoints of <paramref name="port"/> of <paramref name="service"/> for a proxy on <paramref name="network"/>;
    /// <paramref name="networkView"/> (a gateway's own network) drops endpoints of other networks entirely.
    /// </summary>
    public List<LbEndpoint> Endpoints(MeshService service, MeshServicePort port, string network, IReadOnlySet<string>? networkView, Dictionary<(string Host, string Network), (HashSet<string> Endpoints, string Reason)> withheld)
    {
        var result = new List<LbEndpoint>();
        var viaGateway = new Dictionary<NetworkGateway, uint>();
        foreach (var e in service.Endpoints)
        {
            if (!e.Healthy || (networkView is not null && !networkView.Contains(e.Network)))
            {
                continue;
            }

            var weight = e.Weight * _scale;
            if (network.Length == 0 || e.Network.Length == 0 || e.Network == network)
            {
                result.Add(Direct(e, port, weight));
                continue;
            }

            if (SidecarTlsMode.HasNoSidecar(e.Labels))
            {
                Withhold(withheld, service, e, "the endpoint has no sidecar (security.istio.io/tlsMode=disabled) and cross-network traffic needs mTLS for SNI routing");
                continue;
            }

            var gateways = GatewaysFor(e.Network, e.Cluster);
            if (gateways.Count == 0)
            {
                Withhold(withheld, service, e, $"network '{e.Network}' has no known east-west gateway; install one there (causeway gen-eastwest-gateway) so that other networks can reach it");
                continue;
            }

            var share = (uint)(weight / gateways.Count);
            foreach (var gw in gateways)
            {
                viaGateway[gw] = (viaGateway.TryGetValue(gw, out var w) ? w : 0) + share;
            }
        }

        foreach (var gw in _topology.Gateways)
        {
            if (viaGateway.TryGetValue(gw, out var weight))
            {
                result.Add(new LbEndpoint
                {
                    Address = gw.Address,
                    Port = gw.Port,
                    Weight = Math.Max(1, weight),
                    Network = gw.Network,
                    Cluster = gw.Cluster,
                    ViaGateway = true,
                    Healthy = true,
                });
            }
        }

        return result;
    }

    private static LbEndpoint Direct(MeshEndpoint e, MeshServicePort port, uint weight)
    {
        var lb = new LbEndpoint
        {
            Address = e.Address,
            Port = e.PortFor(port),
            Weight = weight,
            Network = e.Network,
            Cluster = e.Cluster,
            Locality = e.Locality,
            WorkloadName = e.WorkloadName,
            ServiceAccount = e.ServiceAccount,
            Healthy = true,
        };
        foreach (var (k, v) in e.Labels)
        {
            lb.Labels[k] = v;
        }

        return lb;
    }

    /// <summary>Gateways of the endpoint's own cluster first (lower latency), else any of its network's.</summary>
    private List<NetworkGateway> GatewaysFor(string network, string cluster)
    {
        var sameCluster = _topology.Gateways.Where(g => g.Network == network && g.Cluster == cluster).ToList();
        return sameCluster.Count > 0 ? sameCluster : _topology.Gateways.Where(g => g.Network == network).ToList();
    }

    private static void Withhold(Dictionary<(string, string), (HashSet<string> Endpoints, string Reason)> withheld, MeshService service, MeshEndpoint e, string reason)
    {
        var key = (service.Hostname, e.Network);
        if (!withheld.TryGetValue(key, out var entry))
        {
            withheld[key] = entry = ([], reason);
        }

        entry.Endpoints.Add($"{e.Cluster}/{e.Address}/{e.WorkloadName}");
    }

    /// <summary>The least common multiple of every network's (and network-and-cluster's) gateway count, as Istio scales weights.</summary>
    internal static uint ScaleFactor(IReadOnlyList<NetworkGateway> gateways)
    {
        ulong scale = 1;
        foreach (var count in gateways.GroupBy(g => g.Network).Select(g => g.Count())
                     .Concat(gateways.GroupBy(g => (g.Network, g.Cluster)).Select(g => g.Count())))
        {
            scale = scale / Gcd(scale, (ulong)count) * (ulong)count;
            if (scale > 1_000_000)
            {
                // Beyond this, rounding is preferable to weights that overflow the proxy's arithmetic.
                return 1_000_000;
            }
        }

        return (uint)scale;
    }

    private static ulong Gcd(ulong a, ulong b) => b == 0 ? a : Gcd(b, a % b);
}
