using Causeway.Core.Resources;

namespace Causeway.ControlPlane.Registry;

/// <summary>One committed change of the local registry, as watchers receive it.</summary>
public sealed record RegistryChange(RegistryChangeType Type, Resource Resource, long Revision);

/// <summary>What happened to a resource.</summary>
public enum RegistryChangeType
{
    Added,
    Modified,
    Deleted,
}
