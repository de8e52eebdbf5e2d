namespace Causeway.Core.Resources.Specs;

/// <summary>Istio's AuthorizationPolicy: who (principals, namespaces) may call which operations of the selected workloads.</summary>
public sealed record AuthorizationPolicySpec
{
    public LabelSelector? Selector { get; init; }

    public string? Action { get; init; }

    public IReadOnlyList<AuthorizationRule> Rules { get; init; } = [];

    internal static IEnumerable<ResourceError> Validate(AuthorizationPolicySpec spec)
    {
        foreach (var e in SpecChecks.OneOf(spec.Action, "spec.action", ["ALLOW", "DENY"],
                     hint: "AUDIT and CUSTOM need an external authorizer, which Causeway does not implement"))
        {
            yield return e;
        }

        for (var i = 0; i < spec.Rules.Count; i++)
        {
            var rule = spec.Rules[i];
            for (var t = 0; t < rule.To.Count; t++)
            {
                foreach (var port in rule.To[t].Operation?.Ports ?? [])
                {
                    if (!uint.TryParse(port, out var n) || n is 0 or > 65535)
                    {
                        yield return new ResourceError($"spec.rules[{i}].to[{t}].operation.ports", $"'{port}' is not a port number");
                    }
                }
            }

            for (var f = 0; f < rule.From.Count; f++)
            {
                foreach (var principal in rule.From[f].Source?.Principals ?? [])
                {
                    if (principal.StartsWith("spiffe://", StringComparison.Ordinal))
                    {
                        yield return new ResourceError($"spec.rules[{i}].from[{f}].source.principals",
                            $"'{principal}': write principals without the spiffe:// scheme, e.g. cluster.local/ns/sample/sa/sleep");
                    }
                }
            }
        }
    }
}

/// <summary>One rule: it matches when any <c>from</c> and any <c>to</c> match (an empty list matches everything).</summary>
public sealed record AuthorizationRule
{
    public IReadOnlyList<RuleFrom> From { get; init; } = [];

    public IReadOnlyList<RuleTo> To { get; init; } = [];
}

/// <summary>A rule's source clause.</summary>
public sealed record RuleFrom
{
    public RuleSource? Source { get; init; }
}

/// <summary>The peer's identity: principals (trust-domain/ns/N/sa/S, with * wildcards at either end) and namespaces.</summary>
public sealed record RuleSource
{
    public IReadOnlyList<string> Principals { get; init; } = [];

    public IReadOnlyList<string> NotPrincipals { get; init; } = [];

    public IReadOnlyList<string> Namespaces { get; init; } = [];

    public IReadOnlyList<string> NotNamespaces { get; init; } = [];
}

/// <summary>A rule's operation clause.</summary>
public sealed record RuleTo
{
    public RuleOperation? Operation { get; init; }
}

/// <summary>What is called: ports (as strings, like Istio), methods and paths.</summary>
public sealed record RuleOperation
{
    public IReadOnlyList<string> Ports { get; init; } = [];

    public IReadOnlyList<string> Methods { get; init; } = [];

    public IReadOnlyList<string> Paths { get; init; } = [];
}
