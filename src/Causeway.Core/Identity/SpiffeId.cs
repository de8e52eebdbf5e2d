using System.Diagnostics.CodeAnalysis;

namespace Causeway.Core.Identity;

/// <summary>A workload identity, <c>spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;service-account&gt;</c>.</summary>
public sealed record SpiffeId(string TrustDomain, string Namespace, string ServiceAccount)
{
    /// <summary>Istio's default trust domain.</summary>
    public const string DefaultTrustDomain = "cluster.local";

    private const string Scheme = "spiffe://";

    /// <summary>The URI form.</summary>
    public override string ToString() => $"{Scheme}{TrustDomain}/ns/{Namespace}/sa/{ServiceAccount}";

    /// <summary>The principal form used by AuthorizationPolicy: the URI without its scheme.</summary>
    public string Principal => $"{TrustDomain}/ns/{Namespace}/sa/{ServiceAccount}";

    /// <summary>Parses a SPIFFE ID strictly; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static SpiffeId Parse(string uri) =>
        TryParse(uri, out var id, out var error) ? id : throw new FormatException(error);

    /// <summary>Parses a SPIFFE ID of Istio's workload form; no query, fragment, port, user info, dot segments or upper case.</summary>
    public static bool TryParse(string? uri, [NotNullWhen(true)] out SpiffeId? id, out string error)
    {
        id = null;
        if (string.IsNullOrEmpty(uri) || !uri.StartsWith(Scheme, StringComparison.Ordinal))
        {
            error = $"'{uri}' is not a SPIFFE ID: it must start with {Scheme}";
            return false;
        }

        var rest = uri[Scheme.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            error = $"'{uri}' has no trust domain or no path";
            return false;
        }

        var trustDomain = rest[..slash];
        if (!IsTrustDomain(trustDomain))
        {
            error = $"'{uri}': trust domain '{trustDomain}' may hold only a-z, 0-9, '.', '-' and '_'";
            return false;
        }

        var segments = rest[(slash + 1)..].Split('/');
        if (segments.Length != 4 || segments[0] != "ns" || segments[2] != "sa")
        {
            error = $"'{uri}': the path must be /ns/<namespace>/sa/<service-account>";
            return false;
        }

        if (!IsSegment(segments[1]) || !IsSegment(segments[3]))
        {
            error = $"'{uri}': namespace and service account must be DNS labels (a-z, 0-9, '-', '.')";
            return false;
        }

        id = new SpiffeId(trustDomain, segments[1], segments[3]);
        error = "";
        return true;
    }

    private static bool IsTrustDomain(string s) =>
        s.Length is > 0 and <= 255 && s.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_');

    private static bool IsSegment(string s) =>
        s.Length is > 0 and <= 253 && s != "." && s != ".." && s.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-');
}
