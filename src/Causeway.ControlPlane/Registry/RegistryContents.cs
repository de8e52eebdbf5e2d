using System.Collections.Immutable;
using Causeway.Core.Resources;

namespace Causeway.ControlPlane.Registry;

/// <summary>
/// The local registry's resources and the log of the keys they changed by, replaced together so that a reader never
/// pairs a log with resources it does not describe (a topology built from the log would then miss a change for good).
/// </summary>
public sealed record RegistryContents(ImmutableDictionary<ResourceKey, Resource> Resources, ChangeLog Changes);
