using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;

namespace Causeway.Core.Tests.Resources;

public class ResourceDocumentsTests
{
    /// <summary>Istio 1.13's samples/multicluster/expose-services.yaml, verbatim.</summary>
    private const string ExposeServices = """
        apiVersion: networking.istio.io/v1alpha3
        kind: Gateway
        metadata:
          name: cross-network-gateway
        spec:
          selector:
            istio: eastwestgateway
          servers:
            - port:
                number: 15443
                name: tls
                protocol: TLS
              tls:
                mode: AUTO_PASSTHROUGH
              hosts:
                - "*.local"
        """;

    [Fact]
    public void ParseYaml_ReadsIstiosExposeServicesSample()
    {
        var resource = Assert.Single(ResourceDocuments.ParseYaml(ExposeServices, "istio-system"));
        Assert.Equal("Gateway", resource.Kind);
        Assert.Equal(new ResourceKey("Gateway", "istio-system", "cross-network-gateway"), resource.Key);
        var spec = resource.SpecAs<GatewaySpec>();
        Assert.Equal("eastwestgateway", spec.Selector["istio"]);
        var server = Assert.Single(spec.Servers);
        Assert.Equal(15443u, server.Port!.Number);
        Assert.Equal("AUTO_PASSTHROUGH", server.Tls!.Mode);
        Assert.Equal(["*.local"], server.Hosts);
    }

    [Fact]
    public void ParseYaml_NamesAnUnknownFieldWithItsPathLineAndTheFieldsAccepted()
    {
        var yaml = ExposeServices.Replace("mode: AUTO_PASSTHROUGH", "mdoe: AUTO_PASSTHROUGH", StringComparison.Ordinal);
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        var error = Assert.Single(e.Errors);
        Assert.Equal("spec.servers[0].tls.mdoe", error.Path);
        Assert.Equal(14, error.Line);
        Assert.Contains("unknown field 'mdoe'", error.Message, StringComparison.Ordinal);
        Assert.Contains("mode", error.Message, StringComparison.Ordinal);
        Assert.Contains("line 14", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseYaml_RefusesAnUnknownKindNamingTheKindsAccepted()
    {
        var yaml = """
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata: {name: x}
            spec: {}
            """;
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains("unknown kind 'VirtualService'", e.Message, StringComparison.Ordinal);
        Assert.Contains("ServiceEntry", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hosts:", "spec.servers[0].hosts")]
    [InlineData("hosts: [~]", "spec.servers[0].hosts")]
    [InlineData("hosts: [\"*.local\", null]", "spec.servers[0].hosts")]
    public void ParseYaml_RefusesAnEmptyValueWhereOneIsRequired_InsteadOfFailingOnIt(string hosts, string path)
    {
        var yaml = $$"""
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: cross-network-gateway, namespace: istio-system}
            spec:
              selector: {istio: eastwestgateway}
              servers:
              - port: {number: 15443, name: tls, protocol: TLS}
                tls: {mode: AUTO_PASSTHROUGH}
                {{hosts}}
            """;
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseYaml_RefusesAnEmptyServer()
    {
        var yaml = """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: cross-network-gateway, namespace: istio-system}
            spec:
              selector: {istio: eastwestgateway}
              servers: [~]
            """;
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains("spec.servers", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("deep flow nesting (stack overflow in YamlDotNet)", "DEEP", "nested more than 64 deep")]
    [InlineData("deep nesting behind a plain scalar with an apostrophe", "[it's, DEEP]", "nested more than 64 deep")]
    [InlineData("block sequences opened on one line", "BLOCKS", "nested more than 64 deep")]
    [InlineData("complex keys opened on one line", "KEYS", "nested more than 64 deep")]
    [InlineData("block sequences with tags between", "TAGGED", "nested more than 64 deep")]
    [InlineData("a mapping as a key", "? {a: b}\n: c\n", "keys must be plain names")]
    // The fuzzer's other findings (YamlDotNet's internal exceptions) are replayed from fuzz/crashers/resource.
    public void ParseYaml_RefusesWhatTheFuzzerFound_WithAClearError(string what, string yaml, string error)
    {
        yaml = yaml.Replace("DEEP", new string('[', 200_000), StringComparison.Ordinal)
            .Replace("BLOCKS", string.Concat(Enumerable.Repeat("- ", 100_000)) + "a", StringComparison.Ordinal)
            .Replace("KEYS", string.Concat(Enumerable.Repeat("? ", 100_000)) + "a", StringComparison.Ordinal)
            .Replace("TAGGED", string.Concat(Enumerable.Repeat("- !t ", 100_000)) + "a", StringComparison.Ordinal);
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.True(e.Message.Contains(error, StringComparison.Ordinal), $"{what}: {e.Message}");
    }

    [Theory]
    [InlineData("app: helloworld", null)]
    [InlineData("topology.istio.io/network: network1", null)]
    [InlineData("security.istio.io/tlsMode: \"\"", null)]
    [InlineData("app: -bad", "'-bad' (4 characters) is not a valid label value")]
    [InlineData("Bad_Prefix/app: x", "metadata.labels.Bad_Prefix/app")]
    [InlineData("app: LONGVALUE", "(70000 characters)")]
    [InlineData("app:", "metadata.labels")]
    [InlineData("{app, version: v1}", "metadata.labels")]
    public void ParseYaml_HoldsLabelsToKubernetesSyntax_WhichBoundsWhatOneResourcePushes(string label, string? error)
    {
        var yaml = $$"""
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata:
              name: helloworld-v1
              namespace: sample
              labels:
                {{label.Replace("LONGVALUE", new string('a', 70_000), StringComparison.Ordinal)}}
            spec: {address: 127.0.0.1}
            """;
        if (error is null)
        {
            Assert.Single(ResourceDocuments.ParseYaml(yaml));
            return;
        }

        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains(error, e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Length < 1000, "the error quotes the whole hostile value");
    }

    [Fact]
    public void ParseYaml_RefusesWhatTheMeshCannotHonour_WithTheReason()
    {
        var yaml = ExposeServices.Replace("AUTO_PASSTHROUGH", "SIMPLE", StringComparison.Ordinal);
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains(e.Errors, x => x.Path == "spec.servers[0].tls.mode" && x.Message.Contains("AUTO_PASSTHROUGH only", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}", true, null, null)]
    [InlineData("trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}}", false, null, null)]
    [InlineData("trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: DEFAULT}}}", false, null, null)]
    [InlineData("trafficPolicy: {loadBalancer: {simple: RANDOM}}", false, null, null)]
    [InlineData("trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRAED}}}", false, "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy", "'UPGRAED' is not supported; use one of DEFAULT, DO_NOT_UPGRADE, UPGRADE")]
    [InlineData("subsets: [{name: v1, labels: {version: v1}, trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}}]", false, "spec.subsets[0].trafficPolicy.connectionPool", "is not supported per subset")]
    public void ParseYaml_ReadsADestinationRulesHttp2Upgrade_AndRefusesWhatItCannotHonour(string spec, bool upgrades, string? errorPath, string? error)
    {
        var yaml = $"apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {{name: helloworld, namespace: sample}}\nspec: {{host: helloworld, {spec}}}\n";
        if (error is null)
        {
            Assert.Equal(upgrades, Assert.Single(ResourceDocuments.ParseYaml(yaml)).SpecAs<DestinationRuleSpec>().UpgradesToHttp2);
            return;
        }

        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains(e.Errors, x => x.Path == errorPath && x.Message.StartsWith(error, StringComparison.Ordinal));
    }

    [Fact]
    public void ParseYaml_RefusesExposingTheControlPlanesPortThroughAGateway()
    {
        var yaml = ExposeServices.Replace("15443", "15012", StringComparison.Ordinal);
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains(e.Errors, x => x.Path == "spec.servers[0].port.number" && x.Message.Contains("control plane", StringComparison.Ordinal));
    }

    [Fact]
    public void ParseYaml_ReportsEveryErrorOfEveryDocument_AndReturnsNothing()
    {
        var yaml = """
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: ok, namespace: sample}
            spec: {address: 10.0.0.1}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: Bad_Name, namespace: sample}
            spec: {address: "", weight: 0}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: svc, namespace: sample}
            spec:
              hosts: [helloworld.sample.svc.cluster.local]
              ports: [{number: 5000, name: http, protocol: UDP}]
            """;
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        Assert.Contains(e.Errors, x => x.Path.EndsWith("metadata.name", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Path.EndsWith("spec.address", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Path.EndsWith("spec.weight", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Path.EndsWith("spec.ports[0].protocol", StringComparison.Ordinal));
    }

    [Fact]
    public void ParseYaml_NamesAWrongType()
    {
        var yaml = ExposeServices.Replace("number: 15443", "number: lots", StringComparison.Ordinal);
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(yaml));
        var error = Assert.Single(e.Errors);
        Assert.Equal("spec.servers[0].port.number", error.Path);
        Assert.Contains("whole number", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseYaml_RefusesANamespaceThatContradictsTheCommandLine()
    {
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml(ExposeServices.Replace("name: cross-network-gateway", "name: cross-network-gateway\n  namespace: other", StringComparison.Ordinal), "istio-system"));
        Assert.Contains("does not match the namespace 'istio-system'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseYaml_ReportsYamlSyntaxErrorsWithTheirLine()
    {
        var e = Assert.Throws<InvalidResourceException>(() => ResourceDocuments.ParseYaml("kind: Gateway\nmetadata: {name: [x\n"));
        Assert.NotNull(Assert.Single(e.Errors).Line);
    }

    [Fact]
    public void YamlAndJson_RoundTripEveryKind()
    {
        var yaml = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: sample
              labels: {istio.io/rev: asm-1134-4}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: helloworld, namespace: sample, labels: {app: helloworld}}
            spec:
              hosts: [helloworld.sample.svc.cluster.local]
              ports: [{number: 5000, name: http, protocol: HTTP}]
              workloadSelector: {labels: {app: helloworld}}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: helloworld-v1, namespace: sample}
            spec:
              address: 127.0.1.10
              ports: {http: 5000}
              labels: {app: helloworld, version: v1}
              serviceAccount: helloworld
              network: network1
              locality: us-east1/b
            status:
              conditions: [{type: Healthy, status: "False"}]
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: helloworld, namespace: sample}
            spec:
              host: helloworld.sample.svc.cluster.local
              trafficPolicy:
                loadBalancer: {simple: LEAST_REQUEST}
                outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
              subsets: [{name: v1, labels: {version: v1}}]
            ---
            apiVersion: security.istio.io/v1beta1
            kind: PeerAuthentication
            metadata: {name: default, namespace: istio-system}
            spec:
              mtls: {mode: STRICT}
              portLevelMtls: {8080: {mode: PERMISSIVE}}
            ---
            apiVersion: security.istio.io/v1beta1
            kind: AuthorizationPolicy
            metadata: {name: deny-sleep, namespace: sample}
            spec:
              selector: {matchLabels: {app: helloworld}}
              action: DENY
              rules:
                - from: [{source: {principals: [cluster.local/ns/sample/sa/sleep]}}]
                  to: [{operation: {ports: ["5000"], methods: [GET], paths: [/hello]}}]
            """;
        var parsed = ResourceDocuments.ParseYaml(yaml);
        Assert.Equal(6, parsed.Count);
        var again = ResourceDocuments.ParseYaml(ResourceDocuments.ToYaml(parsed));
        Assert.Equal(parsed.Select(ResourceDocuments.ToJson), again.Select(ResourceDocuments.ToJson));
        Assert.Equal(parsed.Select(ResourceDocuments.ToJson), parsed.Select(r => ResourceDocuments.ToJson(ResourceDocuments.ParseJson(ResourceDocuments.ToJson(r)))));
        Assert.Equal("False", parsed[2].Status!.Conditions[0].Status);
        Assert.Equal("asm-1134-4", parsed[0].Label("istio.io/rev"));
    }

    [Theory]
    [InlineData("workloadentries", "WorkloadEntry")]
    [InlineData("WorkloadEntry", "WorkloadEntry")]
    [InlineData("we", "WorkloadEntry")]
    [InlineData("serviceentries", "ServiceEntry")]
    [InlineData("authorizationpolicies", "AuthorizationPolicy")]
    [InlineData("gateways", "Gateway")]
    [InlineData("ns", "Namespace")]
    [InlineData("destinationrule", "DestinationRule")]
    public void KindsAreFoundByTheNamesKubectlUsersType(string typed, string kind) =>
        Assert.Equal(kind, ResourceKinds.Find(typed)!.Name);

    [Fact]
    public void ToYaml_QuotesStringsYamlWouldReadAsOtherTypes()
    {
        var resource = ResourceDocuments.ParseYaml("""
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: w, namespace: sample, labels: {istio/multiCluster: "true", version: "1"}}
            spec: {address: 10.0.0.1}
            """)[0];
        var yaml = ResourceDocuments.ToYaml([resource]);
        Assert.Contains("istio/multiCluster: \"true\"", yaml, StringComparison.Ordinal);
        Assert.Equal("1", ResourceDocuments.ParseYaml(yaml)[0].Label("version"));
    }
}
