namespace Causeway.Core.Resources;

/// <summary>A resource's name, namespace, labels and the registry's bookkeeping, as in Kubernetes' <c>metadata</c>.</summary>
public sealed record ObjectMeta
{
    public string Name { get; init; } = "";

    public string? Namespace { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    /// <summary>Set by the registry: the store revision at which this resource last changed.</summary>
    public long? ResourceVersion { get; init; }

    /// <summary>Set by the registry when the resource is first created.</summary>
    public DateTimeOffset? CreationTimestamp { get; init; }
}
