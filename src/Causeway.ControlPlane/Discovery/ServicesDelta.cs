using Causeway.Api.V1;

namespace Causeway.ControlPlane.Discovery;

/// <summary>The difference between two views of one network: services added or changed (whole, and encoded), and host names removed.</summary>
public sealed record ServicesDelta(IReadOnlyList<MeshServiceConfig> Changed, IReadOnlyList<string> Removed, byte[] EncodedChanged)
{
    /// <summary>No service, endpoint or withheld endpoint changed.</summary>
    public static ServicesDelta None { get; } = new([], [], []);

    public bool IsEmpty => ReferenceEquals(this, None);
}
