using System.Collections.Immutable;

namespace Causeway.ControlPlane.Registry;

/// <summary>Everything this control plane knows at one moment: its own cluster and each remote it watches.</summary>
public sealed record MeshSnapshot(long Version, ClusterState Local, ImmutableSortedDictionary<string, ClusterState> Remotes)
{
    public IEnumerable<ClusterState> Clusters => Remotes.Values.Prepend(Local);
}
