using Causeway.Core.Resources;

namespace Causeway.ControlPlane.Registry;

/// <summary>What apply did to one resource: created, configured or unchanged, as kubectl says it.</summary>
public sealed record ApplyOutcome(ResourceKey Key, string Outcome, long ResourceVersion);
