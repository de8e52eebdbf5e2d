using Causeway.Api.V1;
using Causeway.Core.Identity;

namespace Causeway.Proxy.Inbound;

/// <summary>
/// Istio's AuthorizationPolicy semantics at the destination: any matching DENY denies; then, if ALLOW policies exist,
/// a request must match one of them; with no policy at all, everything is allowed.
/// </summary>
public static class AuthorizationEvaluator
{
    /// <summary>Null when allowed, else the name of the deciding policy (or a reason).</summary>
    public static string? Check(IReadOnlyList<AuthorizationPolicyConfig> policies, SpiffeId? peer, uint port, string method, string path)
    {
        var hasAllow = false;
        string? allowedBy = null;
        foreach (var policy in policies)
        {
            var matches = policy.Rules.Any(rule => Matches(rule, peer, port, method, path));
            if (policy.Action == "DENY")
            {
                if (matches)
                {
                    return $"{policy.Namespace}/{policy.Name}";
                }
            }
            else
            {
                hasAllow = true;
                if (matches)
                {
                    allowedBy ??= policy.Name;
                }
            }
        }

        return hasAllow && allowedBy is null ? "no ALLOW policy matched" : null;
    }

    private static bool Matches(AuthorizationRuleConfig rule, SpiffeId? peer, uint port, string method, string path)
    {
        if (rule.MatchAll)
        {
            return true;
        }

        var principal = peer?.Principal;
        var ns = peer?.Namespace;
        if (rule.Principals.Count > 0 && (principal is null || !rule.Principals.Any(p => Glob(p, principal))))
        {
            return false;
        }

        if (rule.NotPrincipals.Count > 0 && principal is not null && rule.NotPrincipals.Any(p => Glob(p, principal)))
        {
            return false;
        }

        if (rule.Namespaces.Count > 0 && (ns is null || !rule.Namespaces.Any(n => Glob(n, ns))))
        {
            return false;
        }

        if (rule.NotNamespaces.Count > 0 && ns is not null && rule.NotNamespaces.Any(n => Glob(n, ns)))
        {
            return false;
        }

        if (rule.Ports.Count > 0 && !rule.Ports.Contains(port))
        {
            return false;
        }

        if (rule.Methods.Count > 0 && !rule.Methods.Contains(method, StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }

        return rule.Paths.Count == 0 || rule.Paths.Any(p => Glob(p, path));
    }

    /// <summary>Istio's string match: exact, prefix <c>abc*</c>, suffix <c>*abc</c>, or <c>*</c>.</summary>
    private static bool Glob(string pattern, string value) => pattern switch
    {
        "*" => true,
        _ when pattern.EndsWith('*') => value.StartsWith(pattern[..^1], StringComparison.Ordinal),
        _ when pattern.StartsWith('*') => value.EndsWith(pattern[1..], StringComparison.Ordinal),
        _ => value == pattern,
    };
}
