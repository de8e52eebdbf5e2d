namespace Causeway.Core.Resources;

/// <summary>One Istio-shaped resource: apiVersion, kind, metadata and a typed spec (and status where the kind has one).</summary>
public sealed record Resource
{
    public required string ApiVersion { get; init; }

    public required string Kind { get; init; }

    public required ObjectMeta Metadata { get; init; }

    /// <summary>The kind's spec type (see <see cref="ResourceKinds"/>); null for kinds with no spec, such as Namespace.</summary>
    public object? Spec { get; init; }

    public ResourceStatus? Status { get; init; }

    public ResourceKey Key => new(Kind, Metadata.Namespace ?? "", Metadata.Name);

    /// <summary>The spec as its kind's type; throws when the resource is of another kind.</summary>
    public T SpecAs<T>() where T : class =>
        Spec as T ?? throw new InvalidOperationException($"{Key} has no spec of type {typeof(T).Name}");

    /// <summary>The label's value or null.</summary>
    public string? Label(string key) => Metadata.Labels.TryGetValue(key, out var v) ? v : null;
}
