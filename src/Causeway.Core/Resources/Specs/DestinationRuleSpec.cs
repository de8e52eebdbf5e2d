namespace Causeway.Core.Resources.Specs;

/// <summary>Istio's DestinationRule: the load-balancer policy, outlier detection, HTTP/2 upgrade and subsets of a service.</summary>
public sealed record DestinationRuleSpec
{
    public static readonly IReadOnlyList<string> LoadBalancers = ["ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN", "RANDOM", "PASSTHROUGH"];

    /// <summary>Istio's <c>connectionPool.http.h2UpgradePolicy</c> values; DEFAULT is the mesh's, which is DO_NOT_UPGRADE.</summary>
    public static readonly IReadOnlyList<string> H2UpgradePolicies = ["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"];

    /// <summary>True when the rule's top-level policy upgrades HTTP/1.1 to HTTP/2 between sidecars.</summary>
    public bool UpgradesToHttp2 => string.Equals(TrafficPolicy?.ConnectionPool?.Http?.H2UpgradePolicy, "UPGRADE", StringComparison.OrdinalIgnoreCase);

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

            // Sidecars keep one mesh connection pool per service, so a subset cannot speak another protocol than its service.
            if (subset.TrafficPolicy?.ConnectionPool is not null)
            {
                yield return new ResourceError($"spec.subsets[{i}].trafficPolicy.connectionPool", "is not supported per subset; set it in spec.trafficPolicy, where it applies to every subset");
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

        if (policy?.ConnectionPool?.Http?.H2UpgradePolicy is { } upgrade)
        {
            foreach (var e in SpecChecks.OneOf(upgrade, $"{path}.connectionPool.http.h2UpgradePolicy", H2UpgradePolicies, required: true))
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

/// <summary>A DestinationRule's traffic policy: load balancing, connection pool and outlier detection.</summary>
public sealed record TrafficPolicy
{
    public LoadBalancerSettings? LoadBalancer { get; init; }

    public ConnectionPoolSettings? ConnectionPool { get; init; }

    public OutlierDetection? OutlierDetection { get; init; }
}

/// <summary>The connection pool settings Causeway applies: the HTTP ones.</summary>
public sealed record ConnectionPoolSettings
{
    public HttpPoolSettings? Http { get; init; }
}

/// <summary>The <c>connectionPool.http</c> settings: whether HTTP/1.1 requests are upgraded to HTTP/2 between sidecars.</summary>
public sealed record HttpPoolSettings
{
    public string? H2UpgradePolicy { get; init; }
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
