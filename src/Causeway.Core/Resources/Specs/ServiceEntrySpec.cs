namespace Causeway.Core.Resources.Specs;

/// <summary>Istio's ServiceEntry: a service's hosts and ports, and its endpoints (WorkloadEntries it selects, or inline).</summary>
public sealed record ServiceEntrySpec
{
    public static readonly IReadOnlyList<string> Protocols = ["HTTP", "HTTP2", "GRPC", "TCP", "TLS"];

    public IReadOnlyList<string> Hosts { get; init; } = [];

    public IReadOnlyList<string> Addresses { get; init; } = [];

    public IReadOnlyList<PortSpec> Ports { get; init; } = [];

    public string? Location { get; init; }

    public string? Resolution { get; init; }

    public IReadOnlyList<WorkloadEntrySpec> Endpoints { get; init; } = [];

    public WorkloadSelector? WorkloadSelector { get; init; }

    public IReadOnlyList<string> ExportTo { get; init; } = [];

    internal static IEnumerable<ResourceError> Validate(ServiceEntrySpec spec)
    {
        if (spec.Hosts.Count == 0)
        {
            yield return new ResourceError("spec.hosts", "at least one host is required, e.g. helloworld.sample.svc.cluster.local");
        }

        for (var i = 0; i < spec.Hosts.Count; i++)
        {
            foreach (var e in SpecChecks.Host(spec.Hosts[i], $"spec.hosts[{i}]", allowWildcard: false))
            {
                yield return e;
            }
        }

        if (spec.Ports.Count == 0)
        {
            yield return new ResourceError("spec.ports", "at least one port is required");
        }

        var numbers = new HashSet<uint>();
        var names = new HashSet<string>();
        for (var i = 0; i < spec.Ports.Count; i++)
        {
            var port = spec.Ports[i];
            var path = $"spec.ports[{i}]";
            foreach (var e in SpecChecks.Port(port.Number, $"{path}.number"))
            {
                yield return e;
            }

            if (string.IsNullOrEmpty(port.Name))
            {
                yield return new ResourceError($"{path}.name", "is required: WorkloadEntry ports refer to it");
            }
            else if (!names.Add(port.Name))
            {
                yield return new ResourceError($"{path}.name", $"'{port.Name}' is used by another port");
            }

            if (!numbers.Add(port.Number))
            {
                yield return new ResourceError($"{path}.number", $"{port.Number} is listed twice");
            }

            foreach (var e in SpecChecks.OneOf(port.Protocol, $"{path}.protocol", Protocols, required: true))
            {
                yield return e;
            }

            if (port.TargetPort is { } target)
            {
                foreach (var e in SpecChecks.Port(target, $"{path}.targetPort"))
                {
                    yield return e;
                }
            }
        }

        foreach (var e in SpecChecks.OneOf(spec.Location, "spec.location", ["MESH_INTERNAL"],
                     hint: "MESH_EXTERNAL needs egress, which Causeway does not implement"))
        {
            yield return e;
        }

        foreach (var e in SpecChecks.OneOf(spec.Resolution, "spec.resolution", ["STATIC", "NONE"],
                     hint: "DNS resolution of endpoints is not implemented; list addresses"))
        {
            yield return e;
        }

        if (spec.WorkloadSelector is not null && spec.Endpoints.Count > 0)
        {
            yield return new ResourceError("spec.workloadSelector", "cannot be used together with spec.endpoints; choose one");
        }

        for (var i = 0; i < spec.Endpoints.Count; i++)
        {
            foreach (var e in WorkloadEntrySpec.Validate(spec.Endpoints[i], $"spec.endpoints[{i}]"))
            {
                yield return e;
            }
        }
    }
}

/// <summary>Selects workloads by label, as ServiceEntry's <c>workloadSelector</c> does.</summary>
public sealed record WorkloadSelector
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}
