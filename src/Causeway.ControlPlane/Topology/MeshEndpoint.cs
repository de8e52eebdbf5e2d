namespace Causeway.ControlPlane.Topology;

/// <summary>One workload instance behind a service, as any cluster of the mesh registered it.</summary>
public sealed record MeshEndpoint
{
    public required string Address { get; init; }

    /// <summary>Port name to the port the workload listens on (WorkloadEntry <c>ports</c>).</summary>
    public IReadOnlyDictionary<string, uint> Ports { get; init; } = new Dictionary<string, uint>();

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public required string Network { get; init; }

    public required string Cluster { get; init; }

    public string Locality { get; init; } = "";

    public uint Weight { get; init; } = 1;

    public string Namespace { get; init; } = "";

    public string ServiceAccount { get; init; } = "default";

    public bool Healthy { get; init; } = true;

    public string WorkloadName { get; init; } = "";

    /// <summary>The port this endpoint serves a service port on: by the port's name, else its targetPort, else its number.</summary>
    public uint PortFor(MeshServicePort port) =>
        port.Name.Length > 0 && Ports.TryGetValue(port.Name, out var p) ? p : port.TargetPort ?? port.Number;
}
