namespace Causeway.Proxy.Tests.Integration;

/// <summary>The seed's resources in Istio's shapes, for the data-plane tests.</summary>
internal static class Manifests
{
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

    public static string Workload(string name, string app, string address, string version, int port = 5000, string serviceAccount = "helloworld") => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: WorkloadEntry
        metadata: {name: {{name}}, namespace: sample}
        spec:
          address: {{address}}
          ports: {http: {{port}}}
          labels: {app: {{app}}, version: "{{version}}"}
          serviceAccount: {{serviceAccount}}
        """;

    /// <summary>What installing an east-west gateway registers, and Istio's expose-services.yaml.</summary>
    public static string EastWestGateway(string address, string network) => $$"""
        apiVersion: networking.istio.io/v1beta1
        kind: ServiceEntry
        metadata:
          name: istio-eastwestgateway
          namespace: istio-system
          labels: {topology.istio.io/network: "{{network}}"}
        spec:
          hosts: [istio-eastwestgateway.istio-system.svc.cluster.local]
          ports: [{number: 15443, name: tls, protocol: TLS}]
          workloadSelector:
            labels: {istio: eastwestgateway}
        ---
        apiVersion: networking.istio.io/v1beta1
        kind: WorkloadEntry
        metadata: {name: istio-eastwestgateway, namespace: istio-system}
        spec:
          address: {{address}}
          labels: {istio: eastwestgateway}
          serviceAccount: istio-eastwestgateway
        ---
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
