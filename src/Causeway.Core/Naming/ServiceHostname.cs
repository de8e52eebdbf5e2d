namespace Causeway.Core.Naming;

/// <summary>Builds and resolves Kubernetes-style service names: <c>name</c>, <c>name.ns</c>, <c>name.ns.svc</c> and the FQDN.</summary>
public static class ServiceHostname
{
    /// <summary>The DNS domain of every cluster in the mesh, as in Kubernetes and Istio.</summary>
    public const string DefaultDomain = "cluster.local";

    /// <summary>The fully qualified name of a service, e.g. <c>helloworld.sample.svc.cluster.local</c>.</summary>
    public static string Fqdn(string name, string ns, string domain = DefaultDomain) => $"{name}.{ns}.svc.{domain}";

    /// <summary>
    /// Expands a host as a client in <paramref name="clientNamespace"/> would write it to the service's FQDN,
    /// or returns null when the host is not a mesh service name. A trailing dot and upper case are accepted.
    /// </summary>
    public static string? ToFqdn(string host, string clientNamespace, string domain = DefaultDomain)
    {
        if (string.IsNullOrEmpty(host))
        {
            return null;
        }

        var h = host.TrimEnd('.').ToLowerInvariant();
        var labels = h.Split('.');
        if (labels.Any(string.IsNullOrEmpty))
        {
            return null;
        }

        var suffix = ".svc." + domain;
        if (h.EndsWith(suffix, StringComparison.Ordinal))
        {
            return labels.Length == 3 + domain.Split('.').Length ? h : null;
        }

        return labels.Length switch
        {
            1 => Fqdn(labels[0], clientNamespace, domain),
            2 => Fqdn(labels[0], labels[1], domain),
            3 when labels[2] == "svc" => Fqdn(labels[0], labels[1], domain),
            _ => null,
        };
    }

    /// <summary>Splits an FQDN <c>name.ns.svc.domain</c> into name and namespace; false when it is not of that form.</summary>
    public static bool TrySplit(string fqdn, out string name, out string ns)
    {
        name = ns = "";
        var parts = fqdn.Split('.');
        if (parts.Length < 4 || parts[2] != "svc" || parts[0].Length == 0 || parts[1].Length == 0)
        {
            return false;
        }

        name = parts[0];
        ns = parts[1];
        return true;
    }

    /// <summary>True when <paramref name="host"/> matches an Istio host pattern such as <c>*.local</c> or an exact name.</summary>
    public static bool MatchesPattern(string host, string pattern)
    {
        if (pattern == "*")
        {
            return true;
        }

        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return host.EndsWith(pattern.AsSpan(1), StringComparison.OrdinalIgnoreCase) && host.Length > pattern.Length - 1;
        }

        return string.Equals(host, pattern, StringComparison.OrdinalIgnoreCase);
    }
}
