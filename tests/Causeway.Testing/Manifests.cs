namespace Causeway.Testing;

/// <summary>The seed's resources in Istio's shapes, shared by the control-plane and data-plane tests.</summary>
public static class Manifests
{
    /// <summary>A ServiceEntry <c>NAME.sample.svc.cluster.local</c> selecting workloads labelled <c>app: NAME</c>.</summary>
    public static string Service(string name, int port, string protocol = "HTTP") => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: ServiceEntry
        metadata: {name: {{name}}, namespace: sample}
        spec:
          hosts: [{{name}}.sample.svc.cluster.local]
          ports: [{number: {{port}}, name: http, protocol: {{protocol}}}]
          workloadSelector:
            labels: {app: {{name}}}
        """;

    /// <summary>A DestinationRule for <c>NAME.sample.svc.cluster.local</c> that upgrades its HTTP/1.1 to HTTP/2 on the mesh hop (Istio's <c>h2UpgradePolicy: UPGRADE</c>).</summary>
    public static string H2Upgrade(string name) => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: DestinationRule
        metadata: {name: {{name}}, namespace: sample}
        spec:
          host: {{name}}.sample.svc.cluster.local
          trafficPolicy:
            connectionPool:
              http: {h2UpgradePolicy: UPGRADE}
        """;

    /// <summary>
    /// A WorkloadEntry in <c>sample</c>; <paramref name="tlsMode"/>, when given, is its <c>security.istio.io/tlsMode</c>
    /// label; <paramref name="extra"/> is appended as top-level YAML (e.g. a status).
    /// </summary>
    public static string Workload(string name, string app, string address, string version, int port = 5000, string serviceAccount = "helloworld", string extra = "", string? tlsMode = null) => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: WorkloadEntry
        metadata: {name: {{name}}, namespace: sample}
        spec:
          address: {{address}}
          ports: {http: {{port}}}
          labels: {app: {{app}}, version: "{{version}}"{{(tlsMode is null ? "" : ", security.istio.io/tlsMode: " + tlsMode)}}}
          serviceAccount: {{serviceAccount}}
        """ + (extra.Length > 0 ? "\n" + extra : "");

    /// <summary>An AuthorizationPolicy in <c>sample</c> denying <paramref name="principal"/> every request to helloworld.</summary>
    public static string DenyToHelloworld(string principal) => DenyAtHelloworld("deny-sleep", $"[{{from: [{{source: {{principals: [\"{principal}\"]}}}}]}}]");

    /// <summary>An AuthorizationPolicy in <c>sample</c> denying requests to helloworld for these paths (Istio's path patterns).</summary>
    public static string DenyPathsAtHelloworld(params string[] paths) =>
        DenyAtHelloworld("deny-private", $"[{{to: [{{operation: {{paths: [{string.Join(", ", paths.Select(p => $"\"{p}\""))}]}}}}]}}]");

    /// <summary>A DENY AuthorizationPolicy in <c>sample</c> selecting helloworld, with <paramref name="rules"/> as a YAML flow sequence.</summary>
    public static string DenyAtHelloworld(string name, string rules) => $$"""
        apiVersion: security.istio.io/v1beta1
        kind: AuthorizationPolicy
        metadata: {name: {{name}}, namespace: sample}
        spec:
          selector:
            matchLabels: {app: helloworld}
          action: DENY
          rules: {{rules}}
        """;

    /// <summary>What installing an east-west gateway registers: its Service (labelled with its network) and its workload.</summary>
    public static string EastWestGateway(string address, string network, string name = "istio-eastwestgateway") => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: ServiceEntry
        metadata:
          name: {{name}}
          namespace: istio-system
          labels: {topology.istio.io/network: "{{network}}"}
        spec:
          hosts: [{{name}}.istio-system.svc.cluster.local]
          ports: [{number: 15443, name: tls, protocol: TLS}]
          workloadSelector:
            labels: {istio: eastwestgateway}
        ---
        apiVersion: networking.istio.io/v1beta1
        kind: WorkloadEntry
        metadata: {name: {{name}}, namespace: istio-system}
        spec:
          address: {{address}}
          labels: {istio: eastwestgateway}
          serviceAccount: istio-eastwestgateway
        """;

    /// <summary>Istio's samples/multicluster/expose-services.yaml.</summary>
    public const string ExposeServices = """
        apiVersion: networking.istio.io/v1alpha3
        kind: Gateway
        metadata: {name: cross-network-gateway, namespace: istio-system}
        spec:
          selector:
            istio: eastwestgateway
          servers:
            - port: {number: 15443, name: tls, protocol: TLS}
              tls: {mode: AUTO_PASSTHROUGH}
              hosts: ["*.local"]
        """;
}
