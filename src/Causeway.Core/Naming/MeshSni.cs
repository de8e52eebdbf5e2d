using System.Globalization;

namespace Causeway.Core.Naming;

/// <summary>
/// The SNI of a mesh mTLS connection, Istio's DNS-SRV form of an outbound cluster:
/// <c>outbound_.&lt;port&gt;_.&lt;subset&gt;_.&lt;fqdn&gt;</c>; with no subset the two separators meet, giving
/// <c>outbound_.5000_._.helloworld.sample.svc.cluster.local</c> (Istio's BuildDNSSrvSubsetKey).
/// </summary>
public readonly record struct MeshSni(int Port, string Subset, string Host)
{
    /// <summary>The largest SNI accepted, the DNS limit for a host name.</summary>
    public const int MaxLength = 255;

    private const string Prefix = "outbound_.";

    /// <summary>Formats the SNI, e.g. <c>outbound_.5000_._.helloworld.sample.svc.cluster.local</c>.</summary>
    public override string ToString() => Format(Port, Subset, Host);

    /// <summary>Formats the SNI for a port, a subset (empty for none) and a service FQDN.</summary>
    public static string Format(int port, string? subset, string host) =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix}{port}_.{subset}_.{host}");

    /// <summary>Parses an SNI strictly: the prefix, a port 1-65535, a subset label, and a host; false on anything else.</summary>
    public static bool TryParse(ReadOnlySpan<char> sni, out MeshSni result)
    {
        result = default;
        if (sni.Length > MaxLength || !sni.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = sni[Prefix.Length..];
        var portEnd = rest.IndexOf("_.", StringComparison.Ordinal);
        if (portEnd <= 0 || portEnd > 5 || !int.TryParse(rest[..portEnd], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return false;
        }

        rest = rest[(portEnd + 2)..];
        var subsetEnd = rest.IndexOf("_.", StringComparison.Ordinal);
        if (subsetEnd < 0)
        {
            return false;
        }

        var subset = rest[..subsetEnd];
        var host = rest[(subsetEnd + 2)..];
        if ((subset.Length > 0 && !IsDnsName(subset)) || host.Length == 0 || !IsDnsName(host))
        {
            return false;
        }

        result = new MeshSni(port, subset.ToString(), host.ToString());
        return true;
    }

    private static bool IsDnsName(ReadOnlySpan<char> name)
    {
        if (name[0] == '.' || name[^1] == '.' || name[0] == '-')
        {
            return false;
        }

        var previous = '\0';
        foreach (var c in name)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.';
            if (!ok || (c == '.' && previous == '.'))
            {
                return false;
            }

            previous = c;
        }

        return true;
    }
}
