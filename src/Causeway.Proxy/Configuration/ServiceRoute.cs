using Causeway.Proxy.LoadBalancing;

namespace Causeway.Proxy.Configuration;

/// <summary>One port of one mesh service as this proxy routes it: its protocol and the picker over its endpoints.</summary>
public sealed record ServiceRoute(string Hostname, string Namespace, uint Port, string Protocol, EndpointPicker Picker, IReadOnlySet<string> Identities, bool H2Upgrade = false)
{
    /// <summary>HTTP/2 and gRPC are carried as HTTP/2 to the application too; HTTP as HTTP/1.1.</summary>
    public bool IsHttp2 => Protocol is "http2" or "grpc";

    public bool IsHttp => Protocol is "http" or "http2" or "grpc";

    /// <summary>The SNI of this port's mesh connections (no subset), made once rather than per request.</summary>
    public string MeshSni { get; } = Core.Naming.MeshSni.Format((int)Port, "", Hostname);

    /// <summary>
    /// Whether a request of this protocol crosses the mesh hop as HTTP/2: HTTP/2 requests and HTTP/2 ports always, HTTP/1.1
    /// only when the DestinationRule says UPGRADE (Istio's h2UpgradePolicy; its default keeps HTTP/1.1 as HTTP/1.1).
    /// </summary>
    public bool MeshHopIsHttp2(bool requestIsHttp2) => requestIsHttp2 || IsHttp2 || H2Upgrade;
}
