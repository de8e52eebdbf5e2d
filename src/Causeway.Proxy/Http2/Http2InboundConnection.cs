using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Naming;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Http2.Hpack;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.LoadBalancing;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Http2;

/// <summary>
/// A peer sidecar's mTLS HTTP/2 connection to this sidecar's inbound listener, for a service whose application speaks
/// HTTP/2 or that the mesh hop carries as HTTP/2: each request is authorised against the workload's AuthorizationPolicies
/// with the peer's SPIFFE ID and goes to the application as h2c, or as HTTP/1.1 to one that speaks it, with
/// <c>x-forwarded-client-cert</c> replaced by who called in (Envoy's XFCC).
/// </summary>
public sealed class Http2InboundConnection : Http2ServerConnection
{
    private readonly MeshSni _sni;
    private readonly SpiffeId? _peer;
    private readonly string _peerName;
    private readonly byte[] _forwardedClientCert;
    private ProxySnapshot? _lastSnapshot;
    private uint _appPort;
    private Http2UpstreamPool? _pool;
    private bool _appIsHttp2;
    private Http1.UpstreamConnectionPool? _http1Pool;

    public Http2InboundConnection(Stream input, Stream output, Http2Forwarder forwarder, MeshSni sni, SpiffeId? peer)
        : base(input, output, forwarder, InboundConnection.Listener)
    {
        _sni = sni;
        _peer = peer;
        _peerName = peer?.ToString() ?? "";
        _forwardedClientCert = Encoding.ASCII.GetBytes($"By={forwarder.Options.Identity};URI={peer}");
    }

    private protected override int Accept(HeaderList headers, in Http2RequestHead head, out ServiceRoute? route, out string body)
    {
        route = null;
        body = "";
        var snapshot = Forwarder.Config.Current;
        if (snapshot is null)
        {
            return 503;
        }

        if (snapshot != _lastSnapshot)
        {
            _appPort = Forwarder.InboundConnection.TargetPort(snapshot, _sni);
            _appIsHttp2 = snapshot.Find(_sni.Host, (uint)_sni.Port)?.IsHttp2 == true;
            _pool = _appIsHttp2 ? Forwarder.Pools.For(Forwarder.AppAddress, (int)_appPort, "") : null;
            _http1Pool = _appIsHttp2 ? null : Forwarder.Http1?.Pools.For(Forwarder.AppAddress, (int)_appPort, "");
            _lastSnapshot = snapshot;
        }

        if (!_appIsHttp2 && _http1Pool is null)
        {
            // The port's protocol changed under the connection to one this path does not carry.
            return 502;
        }

        var path = head.Path >= 0 ? headers.Value(head.Path) : default;
        if (!Http.RequestTarget.IsClean(path))
        {
            return 400;
        }

        var method = headers.Value(head.Method);
        if (method.SequenceEqual("CONNECT"u8))
        {
            return 405;
        }

        var policies = snapshot.Config.AuthorizationPolicies;
        if (policies.Count > 0)
        {
            var query = path.IndexOf((byte)'?');
            var pathOnly = Encoding.ASCII.GetString(query < 0 ? path : path[..query]);
            if (AuthorizationEvaluator.Check(policies, _peer, _appPort, Encoding.ASCII.GetString(method), pathOnly) is not null)
            {
                body = "RBAC: access denied";
                return 403;
            }
        }

        return 0;
    }

    private protected override IHttp2ServerStream OpenForwarded(int streamId, bool endStream, HeaderList headers, in Http2RequestHead head, ServiceRoute? route)
    {
        if (_appIsHttp2)
        {
            return base.OpenForwarded(streamId, endStream, headers, head, route);
        }

        if (_http1Pool!.Dropped)
        {
            _http1Pool = Forwarder.Http1!.Pools.For(Forwarder.AppAddress, (int)_appPort, "");
        }

        var length = Http1ApplicationStream.EncodeRequestHead(headers, head, chunked: !endStream && head.ContentLength < 0, _forwardedClientCert, out var block);
        var stream = new Http1ApplicationStream(this, streamId, Forwarder.Http1!, _http1Pool, Forwarder.AppAddress, (int)_appPort, block, length,
            headers.Value(head.Method).SequenceEqual("HEAD"u8), endStream, head.ContentLength);
        Add(streamId, stream);
        return stream;
    }

    protected override int ExtraHeadersLength => HpackEncoder.MaxLiteralLength(23, _forwardedClientCert.Length);

    protected override int WriteExtraHeaders(Span<byte> destination) =>
        HpackEncoder.WriteLiteral("x-forwarded-client-cert"u8, _forwardedClientCert, destination);

    protected override bool Drops(ReadOnlySpan<byte> name) => name.SequenceEqual("x-forwarded-client-cert"u8);

    internal override bool TryChoose(Http2ProxyStream stream, UpstreamEndpoint? previous, out Http2UpstreamPool pool, out UpstreamEndpoint? endpoint)
    {
        endpoint = null;
        pool = _pool!;
        if (pool.Dropped)
        {
            pool = _pool = Forwarder.Pools.For(Forwarder.AppAddress, (int)_appPort, "");
        }

        return true;
    }

    internal override void ConnectFailed(UpstreamEndpoint? endpoint, int attempt, string reason) =>
        Forwarder.Logger.LogWarning("An HTTP/2 connection to the application on port {Port} failed: {Reason}", _appPort, reason);

    internal override void Record(IHttp2ServerStream stream, UpstreamEndpoint? endpoint, long started) =>
        Forwarder.Metrics.DestinationRequest(Forwarder.Options, _peerName, _sni.Host, stream.Status, started);
}
