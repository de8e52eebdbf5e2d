using System.Text;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Http2.Hpack;
using Causeway.Proxy.LoadBalancing;
using Causeway.Proxy.Outbound;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Http2;

/// <summary>
/// An application's HTTP/2 (h2c) connection to its sidecar's outbound listener: each request's authority names a
/// mesh service (or the connection was captured for one), an endpoint is picked per request, and the request goes over
/// mTLS HTTP/2 to the endpoint's sidecar or its network's gateway, or as h2c to an endpoint with no sidecar.
/// </summary>
public sealed class Http2OutboundConnection(Stream input, Stream output, Http2Forwarder forwarder, IConnectionItemsFeature? items)
    : Http2ServerConnection(input, output, forwarder, KestrelConnectionEnds.OutboundListener)
{
    // The last authority resolved on this connection: clients repeat it.
    private AuthorityRoute _lastAuthority;

    // The last endpoint's pool: the endpoint object is the same until the configuration changes.
    private UpstreamEndpoint? _lastEndpoint;
    private Http2UpstreamPool? _lastPool;

    private protected override int Accept(HeaderList headers, in Http2RequestHead head, out ServiceRoute? route, out string body)
    {
        route = null;
        body = "";
        var snapshot = Forwarder.Config.Current;
        if (snapshot is null)
        {
            body = "causeway: no configuration from the control plane yet\n";
            return 503;
        }

        var path = head.Path >= 0 ? headers.Value(head.Path) : default;
        if (!Http.RequestTarget.IsClean(path))
        {
            body = "causeway: the request target holds a control character\n";
            return 400;
        }

        var authority = headers.Value(head.AuthorityOrHost);
        route = _lastAuthority.Resolve(snapshot, authority, Forwarder.Options.Namespace) ?? TransparentOutbound.RouteOf(items);
        if (route is null)
        {
            body = $"causeway: '{Encoding.ASCII.GetString(authority)}' is not a mesh service this sidecar knows\n";
            return 404;
        }

        if (headers.Value(head.Method).SequenceEqual("CONNECT"u8))
        {
            body = "causeway: CONNECT over HTTP/2 is not supported; tunnel with HTTP/1.1 CONNECT\n";
            return 405;
        }

        if (!route.IsHttp2 && HasPlaintextEndpoint(route))
        {
            // Such an endpoint speaks HTTP/1.1 and has no sidecar to translate; this path forwards HTTP/2 only.
            body = $"causeway: '{route.Hostname}' has HTTP/1.1 endpoints outside the mesh; call it with HTTP/1.1\n";
            return 502;
        }

        return 0;
    }

    private static bool HasPlaintextEndpoint(ServiceRoute route)
    {
        foreach (var endpoint in route.Picker.Endpoints)
        {
            if (endpoint.Plaintext)
            {
                return true;
            }
        }

        return false;
    }

    internal override bool TryChoose(Http2ProxyStream stream, UpstreamEndpoint? previous, out Http2UpstreamPool pool, out UpstreamEndpoint? endpoint)
    {
        var route = stream.Route!;
        endpoint = route.Picker.Pick(previous);
        if (endpoint is null)
        {
            pool = null!;
            return false;
        }

        if (ReferenceEquals(endpoint, _lastEndpoint) && _lastPool is { Dropped: false } last)
        {
            pool = last;
            return true;
        }

        pool = endpoint.Plaintext
            ? Forwarder.Pools.For(endpoint.Address, (int)endpoint.Port, "")
            : Forwarder.Pools.For(endpoint.Address, endpoint.ViaGateway ? (int)endpoint.Port : Forwarder.Options.InboundPort, route.MeshSni);
        (_lastEndpoint, _lastPool) = (endpoint, pool);
        return true;
    }

    internal override void ConnectFailed(UpstreamEndpoint? endpoint, int attempt, string reason)
    {
        Forwarder.Logger.LogWarning("An HTTP/2 connection to {Endpoint} (attempt {Attempt}) failed: {Reason}", endpoint, attempt + 1, reason);
        if (endpoint is not null)
        {
            ConnectFailures.Record(endpoint, Forwarder.Options);
        }
    }

    internal override void Record(IHttp2ServerStream stream, UpstreamEndpoint? endpoint, long started)
    {
        if (stream.Route is { } route)
        {
            Forwarder.Metrics.SourceRequest(Forwarder.Options, Forwarder.Principal, route.Hostname, endpoint, stream.Status, started);
        }
    }
}
