using System.Collections.Frozen;
using System.Net;
using Causeway.Core.Naming;

namespace Causeway.Proxy.Dns;

/// <summary>
/// The names a sidecar's DNS proxy answers, as Istio's name table: each service's FQDN and its Kubernetes short forms
/// (<c>name.ns.svc</c>, <c>name.ns</c>, and <c>name</c> from the same namespace), mapped to the service's virtual address.
/// </summary>
public sealed class MeshNameTable
{
    private readonly FrozenDictionary<string, IPAddress> _names;
    private readonly FrozenDictionary<string, IPAddress>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public MeshNameTable(IDictionary<string, IPAddress> names)
    {
        _names = names.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _lookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static MeshNameTable Empty { get; } = new(new Dictionary<string, IPAddress>());

    public int Count => _names.Count;

    /// <summary>The address of <paramref name="name"/> (no trailing dot) as a client in <paramref name="clientNamespace"/> would mean it.</summary>
    public IPAddress? Find(ReadOnlySpan<char> name, string clientNamespace)
    {
        if (_lookup.TryGetValue(name, out var address))
        {
            return address;
        }

        if (name.IsEmpty || name.Contains('.') || name.Length > 63)
        {
            return null;
        }

        // A single label is a service of the client's own namespace, as the Kubernetes search path makes it.
        Span<char> fqdn = stackalloc char[256];
        var suffix = ".svc." + ServiceHostname.DefaultDomain;
        var length = name.Length + 1 + clientNamespace.Length + suffix.Length;
        if (length > fqdn.Length)
        {
            return null;
        }

        name.CopyTo(fqdn);
        fqdn[name.Length] = '.';
        clientNamespace.CopyTo(fqdn[(name.Length + 1)..]);
        suffix.CopyTo(fqdn[(name.Length + 1 + clientNamespace.Length)..]);
        return _lookup.TryGetValue(fqdn[..length], out address) ? address : null;
    }

    /// <summary>True when <paramref name="name"/> is in the cluster's DNS domain, which only the mesh can answer.</summary>
    public static bool IsClusterDomain(ReadOnlySpan<char> name) =>
        name.EndsWith("." + ServiceHostname.DefaultDomain, StringComparison.OrdinalIgnoreCase) || name.EndsWith(".svc", StringComparison.OrdinalIgnoreCase);

    internal static void AddNames(Dictionary<string, IPAddress> names, string hostname, IPAddress address)
    {
        names.TryAdd(hostname, address);
        if (ServiceHostname.TrySplit(hostname, out var name, out var ns) && hostname == ServiceHostname.Fqdn(name, ns))
        {
            names.TryAdd($"{name}.{ns}.svc", address);
            names.TryAdd($"{name}.{ns}", address);
        }
    }

    internal static uint ToUInt(IPAddress address)
    {
        Span<byte> b = stackalloc byte[4];
        address.TryWriteBytes(b, out _);
        return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }
}
