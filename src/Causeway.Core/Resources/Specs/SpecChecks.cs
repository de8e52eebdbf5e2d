using System.Text.RegularExpressions;

namespace Causeway.Core.Resources.Specs;

/// <summary>Checks shared by the spec validators, each yielding errors with the field's path.</summary>
internal static partial class SpecChecks
{
    /// <summary>The ports the control plane serves: never exposed through a gateway (Istio's sample did, and istiod crashes followed).</summary>
    public static readonly IReadOnlySet<uint> ControlPlanePorts = new HashSet<uint> { 15010, 15012, 15014, 15017 };

    public static IEnumerable<ResourceError> Port(uint number, string path)
    {
        if (number is 0 or > 65535)
        {
            yield return new ResourceError(path, $"port {number} is out of range; use 1-65535");
        }
    }

    public static IEnumerable<ResourceError> OneOf(string? value, string path, IReadOnlyList<string> allowed, bool required = false, string? hint = null)
    {
        if (value is null)
        {
            if (required)
            {
                yield return new ResourceError(path, $"is required; one of {string.Join(", ", allowed)}");
            }

            yield break;
        }

        if (!allowed.Contains(value, StringComparer.OrdinalIgnoreCase))
        {
            yield return new ResourceError(path, $"'{value}' is not supported; use one of {string.Join(", ", allowed)}" + (hint is null ? "" : $" ({hint})"));
        }
    }

    public static IEnumerable<ResourceError> Host(string host, string path, bool allowWildcard)
    {
        var h = allowWildcard && host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
        if (allowWildcard && host == "*")
        {
            yield break;
        }

        if (!HostPattern().IsMatch(h))
        {
            yield return new ResourceError(path, $"'{host}' is not a valid host name (lower-case DNS labels{(allowWildcard ? ", optionally after '*.'" : "")})");
        }
    }

    /// <summary>Kubernetes' label syntax: a key of an optional DNS-subdomain prefix (≤ 253) and '/', then a name of ≤ 63; a value of ≤ 63. Hostile text is quoted 40 characters at most.</summary>
    public static IEnumerable<ResourceError> Labels(IReadOnlyDictionary<string, string> labels, string path)
    {
        foreach (var (key, value) in labels)
        {
            var slash = key.LastIndexOf('/');
            if (!LabelKey().IsMatch(key) || key.Length - slash - 1 > 63 || slash > 253)
            {
                yield return new ResourceError($"{path}.{Shorten(key)}", "is not a valid label key: an optional DNS-subdomain prefix and '/', then at most 63 alphanumerics, '-', '_' or '.'");
            }
            else if (value.Length > 63 || (value.Length > 0 && !LabelValue().IsMatch(value)))
            {
                yield return new ResourceError($"{path}.{key}", $"'{Shorten(value)}' ({value.Length} characters) is not a valid label value: at most 63 alphanumerics, '-', '_' or '.'");
            }
        }
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex HostPattern();

    [GeneratedRegex("^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    private static partial Regex LabelKey();

    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    private static partial Regex LabelValue();
}
