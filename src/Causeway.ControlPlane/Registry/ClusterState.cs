using System.Collections.Immutable;
using Causeway.Core.Resources;

namespace Causeway.ControlPlane.Registry;

/// <summary>An immutable view of one cluster's registry as this control plane knows it: its own, or a remote one it watches.</summary>
public sealed record ClusterState
{
    public required string Cluster { get; init; }

    /// <summary>The cluster's default network: workloads that name none are on it.</summary>
    public required string Network { get; init; }

    public bool IsLocal { get; init; }

    public ImmutableDictionary<ResourceKey, Resource> Resources { get; init; } = ImmutableDictionary<ResourceKey, Resource>.Empty;

    /// <summary>True once a complete list has been received (always for the local cluster).</summary>
    public bool Synced { get; init; }

    /// <summary>True while the remote cannot be reached: its last known resources are kept and served.</summary>
    public bool Stale { get; init; }

    public DateTimeOffset? LastUpdate { get; init; }

    /// <summary>Why the remote is not synced, for status pages and <c>causeway remote-clusters</c>.</summary>
    public string? Error { get; init; }

    /// <summary>
    /// The keys <see cref="Resources"/> changed by: since the remote's last complete list, as its watch delivered them,
    /// or since the local registry was loaded; null before a remote's first list. A topology built from an earlier
    /// state reads only these.
    /// </summary>
    public ChangeLog? Changes { get; init; }

    /// <summary>The remote secret this state comes from; empty for the local cluster.</summary>
    public string SecretName { get; init; } = "";

    public IEnumerable<Resource> OfKind(ResourceKind kind) => Resources.Values.Where(r => r.Kind == kind.Name);
}
