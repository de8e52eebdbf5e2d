namespace Causeway.Core.Resources.Specs;

/// <summary>Istio's WorkloadEntry: a workload outside Kubernetes (a process, a VM) with its address, ports and identity.</summary>
public sealed record WorkloadEntrySpec
{
    public string Address { get; init; } = "";

    /// <summary>Port name (as in the ServiceEntry) to the port this workload listens on.</summary>
    public IReadOnlyDictionary<string, uint> Ports { get; init; } = new Dictionary<string, uint>();

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public string? Network { get; init; }

    /// <summary>region/zone/subzone.</summary>
    public string? Locality { get; init; }

    public uint? Weight { get; init; }

    public string? ServiceAccount { get; init; }

    internal static IEnumerable<ResourceError> Validate(WorkloadEntrySpec spec, string path = "spec")
    {
        if (string.IsNullOrEmpty(spec.Address))
        {
            yield return new ResourceError($"{path}.address", "is required: the workload's IP address (or its sidecar's, in the lab)");
        }
        else if (!System.Net.IPAddress.TryParse(spec.Address, out _))
        {
            foreach (var e in SpecChecks.Host(spec.Address, $"{path}.address", allowWildcard: false))
            {
                yield return e;
            }
        }

        foreach (var (name, port) in spec.Ports)
        {
            foreach (var e in SpecChecks.Port(port, $"{path}.ports.{name}"))
            {
                yield return e;
            }
        }

        foreach (var e in SpecChecks.Labels(spec.Labels, $"{path}.labels"))
        {
            yield return e;
        }

        if (spec.Weight is 0)
        {
            yield return new ResourceError($"{path}.weight", "must be at least 1 (omit it for the default of 1)");
        }
    }
}
