namespace Causeway.Core.Naming;

/// <summary>
/// Istio's <c>security.istio.io/tlsMode</c> workload label: <c>disabled</c> says the workload has no sidecar, so it
/// takes plain traffic on its own port and cannot be reached through an SNI-routing gateway.
/// </summary>
public static class SidecarTlsMode
{
    public const string Label = "security.istio.io/tlsMode";

    /// <summary>True when the labels say the workload has no sidecar.</summary>
    public static bool HasNoSidecar(IReadOnlyDictionary<string, string> labels) =>
        labels.TryGetValue(Label, out var mode) && mode == "disabled";
}
