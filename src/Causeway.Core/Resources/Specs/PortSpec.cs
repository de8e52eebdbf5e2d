namespace Causeway.Core.Resources.Specs;

/// <summary>A port as Istio writes it in Gateway servers and ServiceEntry ports.</summary>
public sealed record PortSpec
{
    public uint Number { get; init; }

    public string? Name { get; init; }

    public string? Protocol { get; init; }

    public uint? TargetPort { get; init; }
}
