using System.Collections.Immutable;
using Causeway.Api.V1;
using Causeway.ControlPlane.Discovery;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Topology;
using Causeway.Core.Resources;
using Causeway.Testing;

namespace Causeway.ControlPlane.Tests.Discovery;

public class NetworkEndpointViewTests
{
    private const string Host = "helloworld.sample.svc.cluster.local";

    private static readonly ControlPlaneOptions Options = new() { Cluster = "cluster1", Network = "network1", MeshId = "mesh", DataDirectory = "/nonexistent" };

    private static readonly ProxyNode Sleep1 = new() { Id = "sleep.sample", Namespace = "sample", ServiceAccount = "sleep", WorkloadName = "sleep", Network = "network1", Role = ProxyRole.Sidecar };

    private static readonly string HelloworldService = Manifests.Service("helloworld", 5000);

    private static string Workload(string name, string address, string version, string extra = "") => Manifests.Workload(name, "helloworld", address, version, extra: extra);

    private static string Gateway(string address, string network, string name = "istio-eastwestgateway") => Manifests.EastWestGateway(address, network, name);

    private static ClusterState Cluster(string name, string network, bool local, params string[] yaml) => new()
    {
        Cluster = name,
        Network = network,
        IsLocal = local,
        Synced = true,
        Resources = yaml.SelectMany(y => ResourceDocuments.ParseYaml(y)).ToImmutableDictionary(r => r.Key),
    };

    private static ProxyConfig ConfigFor(ProxyNode node, ClusterState local, params ClusterState[] remotes)
    {
        var snapshot = new MeshSnapshot(1, local, remotes.ToImmutableSortedDictionary(r => r.Cluster, r => r));
        return new ProxyConfigBuilder(Options, () => "root").Build(MeshTopology.Build(snapshot), node);
    }

    private static List<LbEndpoint> Endpoints(ProxyConfig config) =>
        config.Services.Single(s => s.Hostname == Host).Ports.Single().Endpoints.ToList();

    [Fact]
    public void LocalEndpointsAreDirect_RemoteOnesAreTheirNetworksGatewayWeightedByWhatStandsBehindIt()
    {
        var c1 = Cluster("cluster1", "network1", true, HelloworldService, Workload("helloworld-v1", "10.1.0.10", "v1"));
        var c2 = Cluster("cluster2", "network2", false, HelloworldService, Workload("helloworld-v2", "10.2.0.20", "v2"), Workload("helloworld-v2b", "10.2.0.21", "v2"), Gateway("192.0.2.2", "network2"));

        var endpoints = Endpoints(ConfigFor(Sleep1, c1, c2));

        Assert.Equal(2, endpoints.Count);
        var direct = endpoints.Single(e => !e.ViaGateway);
        Assert.Equal(("10.1.0.10", 5000u, 1u, "network1"), (direct.Address, direct.Port, direct.Weight, direct.Network));
        var gateway = endpoints.Single(e => e.ViaGateway);
        Assert.Equal(("192.0.2.2", 15443u, 2u, "network2", "cluster2"), (gateway.Address, gateway.Port, gateway.Weight, gateway.Network, gateway.Cluster));
        Assert.DoesNotContain(endpoints, e => e.Address.StartsWith("10.2.", StringComparison.Ordinal));
    }

    [Fact]
    public void SeveralGatewaysSplitTheWeightEvenly_ScaledToStayIntegers()
    {
        var c1 = Cluster("cluster1", "network1", true, HelloworldService, Workload("helloworld-v1", "10.1.0.10", "v1"));
        var c2 = Cluster("cluster2", "network2", false, HelloworldService, Workload("helloworld-v2", "10.2.0.20", "v2"),
            Gateway("192.0.2.2", "network2"),
            Gateway("192.0.2.3", "network2", "istio-eastwestgateway-b"));

        var endpoints = Endpoints(ConfigFor(Sleep1, c1, c2));

        // One v1 endpoint and one v2 endpoint behind two gateways: scale 2, so v1 weighs 2 and each gateway 1.
        Assert.Equal(2u, endpoints.Single(e => !e.ViaGateway).Weight);
        Assert.Equal([1u, 1u], endpoints.Where(e => e.ViaGateway).Select(e => e.Weight));
        Assert.Equal(["192.0.2.2", "192.0.2.3"], endpoints.Where(e => e.ViaGateway).Select(e => e.Address));
    }

    [Fact]
    public void ARemoteNetworkWithoutAGateway_IsWithheldLoudly_NeverSentAsPodAddresses()
    {
        var c1 = Cluster("cluster1", "network1", true, HelloworldService, Workload("helloworld-v1", "10.1.0.10", "v1"));
        var c2 = Cluster("cluster2", "network2", false, HelloworldService, Workload("helloworld-v2", "10.2.0.20", "v2"));

        var config = ConfigFor(Sleep1, c1, c2);

        Assert.Equal(["10.1.0.10"], Endpoints(config).Select(e => e.Address));
        var withheld = Assert.Single(config.Withheld);
        Assert.Equal((Host, "network2", 1u), (withheld.Hostname, withheld.Network, withheld.Count));
        Assert.Contains("no known east-west gateway", withheld.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AGatewaySeesItsOwnNetworkOnly_SoGatewaysNeverLoopToEachOther()
    {
        var c2 = Cluster("cluster2", "network2", true, HelloworldService, Workload("helloworld-v2", "10.2.0.20", "v2"), Gateway("192.0.2.2", "network2"));
        var c1 = Cluster("cluster1", "network1", false, HelloworldService, Workload("helloworld-v1", "10.1.0.10", "v1"), Gateway("192.0.2.1", "network1"));
        var node = new ProxyNode { Id = "ewgw", Namespace = "istio-system", Network = "network2", Role = ProxyRole.Gateway, RequestedNetworkView = { "network2" } };

        var config = ConfigFor(node, c2, c1);

        Assert.Equal(["10.2.0.20"], Endpoints(config).Select(e => e.Address));
        Assert.Empty(config.Withheld);
    }

    [Fact]
    public void UnhealthyEndpointsAreNotSent_AndDoNotCountBehindAGateway()
    {
        const string unhealthy = "status:\n  conditions: [{type: Healthy, status: \"False\"}]";
        var c1 = Cluster("cluster1", "network1", true, HelloworldService, Workload("helloworld-v1", "10.1.0.10", "v1"), Workload("helloworld-v1b", "10.1.0.11", "v1", unhealthy));
        var c2 = Cluster("cluster2", "network2", false, HelloworldService, Workload("helloworld-v2", "10.2.0.20", "v2"), Workload("helloworld-v2b", "10.2.0.21", "v2", unhealthy), Gateway("192.0.2.2", "network2"));

        var endpoints = Endpoints(ConfigFor(Sleep1, c1, c2));

        Assert.Equal(["10.1.0.10", "192.0.2.2"], endpoints.Select(e => e.Address));
        Assert.Equal(1u, endpoints.Single(e => e.ViaGateway).Weight);
    }

    [Fact]
    public void AnEndpointWithoutASidecarIsNeverOfferedAcrossNetworks()
    {
        var c1 = Cluster("cluster1", "network1", true, HelloworldService);
        var c2 = Cluster("cluster2", "network2", false, HelloworldService,
            Workload("plain", "10.2.0.20", "v2").Replace("version: \"v2\"}", "version: \"v2\", security.istio.io/tlsMode: disabled}", StringComparison.Ordinal),
            Gateway("192.0.2.2", "network2"));

        var config = ConfigFor(Sleep1, c1, c2);

        Assert.Empty(Endpoints(config));
        Assert.Contains("no sidecar", Assert.Single(config.Withheld).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PoliciesComeFromTheLocalClusterOnly()
    {
        const string deny = """
            apiVersion: security.istio.io/v1beta1
            kind: AuthorizationPolicy
            metadata: {name: deny-all, namespace: sample}
            spec: {action: DENY, rules: [{}]}
            """;
        var c1 = Cluster("cluster1", "network1", true, HelloworldService);
        var c2 = Cluster("cluster2", "network2", false, HelloworldService, deny);

        Assert.Empty(ConfigFor(Sleep1, c1, c2).AuthorizationPolicies);
        var withLocal = ConfigFor(Sleep1, Cluster("cluster1", "network1", true, HelloworldService, deny), c2);
        var policy = Assert.Single(withLocal.AuthorizationPolicies);
        Assert.True(Assert.Single(policy.Rules).MatchAll);
        Assert.Equal("STRICT", withLocal.PeerAuthenticationMode);
    }

    [Fact]
    public void ADestinationRuleChoosesTheLoadBalancerAndSubsets_RoundRobinOtherwise()
    {
        const string rule = """
            apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: helloworld, namespace: sample}
            spec:
              host: helloworld
              trafficPolicy:
                loadBalancer: {simple: LEAST_CONN}
              subsets: [{name: v2, labels: {version: v2}}]
            """;
        var plain = ConfigFor(Sleep1, Cluster("cluster1", "network1", true, HelloworldService));
        Assert.Equal("ROUND_ROBIN", plain.Services.Single().LoadBalancer);

        var config = ConfigFor(Sleep1, Cluster("cluster1", "network1", true, HelloworldService, rule));
        var service = config.Services.Single();
        Assert.Equal("LEAST_REQUEST", service.LoadBalancer);
        Assert.Equal("v2", Assert.Single(service.Subsets).Labels["version"]);
    }

    [Fact]
    public void PoliciesFollowTheWorkloadEntrysCurrentLabels()
    {
        var policy = Manifests.DenyAtHelloworld("deny-sleep", "[{}]");
        var node = new ProxyNode { Id = "helloworld-v1.sample", Namespace = "sample", ServiceAccount = "helloworld", WorkloadName = "helloworld-v1", Network = "network1" };
        var labelled = ConfigFor(node, Cluster("cluster1", "network1", true, HelloworldService, policy, Workload("helloworld-v1", "10.1.0.10", "v1")));
        Assert.Single(labelled.AuthorizationPolicies);

        var relabelled = ConfigFor(node, Cluster("cluster1", "network1", true, HelloworldService, policy, Workload("helloworld-v1", "10.1.0.10", "v1").Replace("app: helloworld", "app: other", StringComparison.Ordinal)));
        Assert.Empty(relabelled.AuthorizationPolicies);
    }

    [Fact]
    public void ScaleFactor_IsTheLeastCommonMultipleOfGatewayCounts()
    {
        List<NetworkGateway> gateways =
        [
            new("n2", "c2", "a", 15443), new("n2", "c2", "b", 15443),
            new("n3", "c3", "c", 15443), new("n3", "c3", "d", 15443), new("n3", "c3", "e", 15443),
        ];
        Assert.Equal(6u, NetworkEndpointView.ScaleFactor(gateways));
        Assert.Equal(1u, NetworkEndpointView.ScaleFactor([]));
    }
}
