using System.Text;
using Causeway.Core.Naming;
using Causeway.Proxy.Configuration;
using Microsoft.AspNetCore.Http;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// A client connection's last authority (Host or <c>:authority</c>) and the mesh route it named: keep-alive and HTTP/2
/// clients repeat it, so while the bytes and the configuration are the same the answer is reused without a string or
/// a lookup. A mutable struct kept in the connection.
/// </summary>
internal struct AuthorityRoute
{
    private byte[]? _authority;
    private ProxySnapshot? _snapshot;
    private ServiceRoute? _route;

    /// <summary>The route for <paramref name="authority"/> (short names relative to <paramref name="ns"/>, port 80 when none), or null.</summary>
    public ServiceRoute? Resolve(ProxySnapshot snapshot, ReadOnlySpan<byte> authority, string ns)
    {
        if (snapshot == _snapshot && _authority is not null && authority.SequenceEqual(_authority))
        {
            return _route;
        }

        var host = new HostString(Encoding.ASCII.GetString(authority));
        var fqdn = ServiceHostname.ToFqdn(host.Host, ns);
        var route = fqdn is null ? null : snapshot.Find(fqdn, (uint)(host.Port ?? 80));
        (_snapshot, _authority, _route) = (snapshot, authority.ToArray(), route);
        return route;
    }
}
