namespace Causeway.Core.Resources;

/// <summary>What the mesh knows of one kind: the apiVersions it accepts, its spec type, its scope and its checks.</summary>
public sealed record ResourceKind
{
    public required string Name { get; init; }

    /// <summary>The group, e.g. <c>networking.istio.io</c>; empty for the core group (Namespace).</summary>
    public required string Group { get; init; }

    /// <summary>Accepted versions; the first is the one written out.</summary>
    public required IReadOnlyList<string> Versions { get; init; }

    public Type? SpecType { get; init; }

    public bool Namespaced { get; init; } = true;

    /// <summary>Secrets are never sent to watchers or readers, only to admins.</summary>
    public bool Secret { get; init; }

    /// <summary>Checks of the spec's meaning that its shape cannot express; returns errors with paths under <c>spec</c>.</summary>
    public Func<object, IEnumerable<ResourceError>> Validate { get; init; } = _ => [];

    public string PreferredApiVersion => Group.Length == 0 ? Versions[0] : $"{Group}/{Versions[0]}";

    public bool Accepts(string apiVersion)
    {
        if (Group.Length == 0)
        {
            return Versions.Contains(apiVersion);
        }

        var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && apiVersion[..slash] == Group && Versions.Contains(apiVersion[(slash + 1)..]);
    }
}
