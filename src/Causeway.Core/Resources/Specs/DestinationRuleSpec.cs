namespace Causeway.Core.Resources.Specs;

/// <summary>Istio's DestinationRule: the load-balancer policy, outlier detection and subsets of a service.</summary>
public sealed record DestinationRuleSpec
{
    public static readonly IReadOnlyList<string> LoadBalancers = ["ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN", "RANDOM", "PASSTHROUGH"];

    public string Host { get; init; } = "";

    public TrafficPolicy? TrafficPolicy { get; init; }

    public IReadOnlyList<Subset> Subsets { get; init; } = [];

    public IReadOnlyList<string> ExportTo { get; init; } = [];

    internal static IEnumerable<ResourceError> Validate(DestinationRuleSpec spec)
    {
        if (string.IsNullOrEmpty(spec.Host))
        {
            yield return new ResourceError("spec.host", "is required, e.g. helloworld.sample.svc.cluster.local");
        }

        foreach (var e in ValidatePolicy(spec.TrafficPolicy, "spec.trafficPolicy"))
        {
            yield return e;
        }

        var names = new HashSet<string>();
        for (var i = 0; i < spec.Subsets.Count; i++)
        {
            var subset = spec.Subsets[i];
            if (string.IsNullOrEmpty(subset.Name) || !names.Add(subset.Name))
            {
                yield return new ResourceError($"spec.subsets[{i}].name", "must be present and unique");
            }

            foreach (var e in ValidatePolicy(subset.TrafficPolicy, $"spec.subsets[{i}].trafficPolicy"))
            {
                yield return e;
            }
        }
    }

    private static IEnumerable<ResourceError> ValidatePolicy(TrafficPolicy? policy, string path)
    {
        if (policy?.LoadBalancer is { } lb)
        {
            foreach (var e in SpecChecks.OneOf(lb.Simple, $"{path}.loadBalancer.simple", LoadBalancers, required: true))
            {
                yield return e;
            }
        }

        if (policy?.OutlierDetection is { } od)
        {
            foreach (var (value, name) in new[] { (od.Interval, "interval"), (od.BaseEjectionTime, "baseEjectionTime") })
            {
                if (value is not null && !MeshDuration.TryParse(value, out _))
                {
                    yield return new ResourceError($"{path}.outlierDetection.{name}", $"'{value}' is not a duration; write e.g. 10s, 500ms or 1m");
                }
            }

            if (od.MaxEjectionPercent is > 100)
            {
                yield return new ResourceError($"{path}.outlierDetection.maxEjectionPercent", "must be 0-100");
            }
        }
    }
}

/// <summary>A DestinationRule's traffic policy: load balancing and outlier detection.</summary>
public sealed record TrafficPolicy
{
    public LoadBalancerSettings? LoadBalancer { get; init; }

    public OutlierDetection? OutlierDetection { get; init; }
}

/// <summary>The <c>loadBalancer.simple</c> algorithm.</summary>
public sealed record LoadBalancerSettings
{
    public string? Simple { get; init; }
}

/// <summary>Passive health checking as Istio spells it; Envoy's defaults apply to omitted fields.</summary>
public sealed record OutlierDetection
{
    public uint? Consecutive5xxErrors { get; init; }

    public uint? ConsecutiveGatewayErrors { get; init; }

    public string? Interval { get; init; }

    public string? BaseEjectionTime { get; init; }

    public uint? MaxEjectionPercent { get; init; }
}

/// <summary>A named subset of a service's endpoints, selected by labels.</summary>
public sealed record Subset
{
    public string Name { get; init; } = "";

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public TrafficPolicy? TrafficPolicy { get; init; }
}
