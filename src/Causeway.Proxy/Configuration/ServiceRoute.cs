using Causeway.Proxy.LoadBalancing;

namespace Causeway.Proxy.Configuration;

/// <summary>One port of one mesh service as this proxy routes it: its protocol and the picker over its endpoints.</summary>
public sealed record ServiceRoute(string Hostname, string Namespace, uint Port, string Protocol, EndpointPicker Picker, IReadOnlySet<string> Identities)
{
    /// <summary>HTTP/2 and gRPC are carried as HTTP/2 to the application too; HTTP as HTTP/1.1.</summary>
    public bool IsHttp2 => Protocol is "http2" or "grpc";

    public bool IsHttp => Protocol is "http" or "http2" or "grpc";
}
