namespace Causeway.ControlPlane.Topology;

/// <summary>A service merged across every cluster that defines it (namespace sameness), with all its endpoints.</summary>
public sealed record MeshService
{
    public required string Hostname { get; init; }

    public required string Name { get; init; }

    public required string Namespace { get; init; }

    public IReadOnlyList<MeshServicePort> Ports { get; init; } = [];

    public IReadOnlyList<MeshEndpoint> Endpoints { get; init; } = [];

    /// <summary>The service's virtual IPv4 address (see <see cref="VirtualAddresses"/>).</summary>
    public string VirtualAddress { get; init; } = "";

    /// <summary>The clusters that define this service.</summary>
    public IReadOnlyList<string> Clusters { get; init; } = [];
}

/// <summary>A service port: number, name, protocol (lower case: http, http2, grpc, tcp, tls) and optional target port.</summary>
public sealed record MeshServicePort(uint Number, string Name, string Protocol, uint? TargetPort);
