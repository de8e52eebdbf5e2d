namespace Causeway.Core.Resources.Specs;

/// <summary>Istio's PeerAuthentication: whether a workload's inbound port accepts plaintext besides mesh mTLS.</summary>
public sealed record PeerAuthenticationSpec
{
    public static readonly IReadOnlyList<string> Modes = ["UNSET", "STRICT", "PERMISSIVE"];

    public LabelSelector? Selector { get; init; }

    public MutualTls? Mtls { get; init; }

    public IReadOnlyDictionary<uint, MutualTls> PortLevelMtls { get; init; } = new Dictionary<uint, MutualTls>();

    internal static IEnumerable<ResourceError> Validate(PeerAuthenticationSpec spec)
    {
        const string hint = "DISABLE is not honoured: proxies always speak mTLS to each other; PERMISSIVE also accepts plaintext";
        foreach (var e in SpecChecks.OneOf(spec.Mtls?.Mode, "spec.mtls.mode", Modes, hint: hint))
        {
            yield return e;
        }

        foreach (var (port, mtls) in spec.PortLevelMtls)
        {
            foreach (var e in SpecChecks.Port(port, $"spec.portLevelMtls.{port}"))
            {
                yield return e;
            }

            foreach (var e in SpecChecks.OneOf(mtls.Mode, $"spec.portLevelMtls.{port}.mode", Modes, hint: hint))
            {
                yield return e;
            }
        }
    }
}

/// <summary>An mTLS mode.</summary>
public sealed record MutualTls
{
    public string? Mode { get; init; }
}

/// <summary>Selects workloads by label, as the <c>selector</c> of security.istio.io kinds does.</summary>
public sealed record LabelSelector
{
    public IReadOnlyDictionary<string, string> MatchLabels { get; init; } = new Dictionary<string, string>();
}
