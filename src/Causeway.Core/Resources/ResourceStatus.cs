namespace Causeway.Core.Resources;

/// <summary>The observed state of a resource; for a WorkloadEntry, the <c>Healthy</c> condition Istio's health checks set.</summary>
public sealed record ResourceStatus
{
    public IReadOnlyList<ResourceCondition> Conditions { get; init; } = [];
}

/// <summary>One condition, e.g. <c>type: Healthy, status: "False", reason: ReadinessProbeFailed</c>.</summary>
public sealed record ResourceCondition
{
    public string Type { get; init; } = "";

    public string Status { get; init; } = "";

    public string? Reason { get; init; }

    public string? Message { get; init; }

    public DateTimeOffset? LastTransitionTime { get; init; }
}
