using System.Diagnostics;
using System.Net;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Outbound;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Causeway.Proxy.Inbound;

/// <summary>
/// The sidecar's inbound HTTP (port 15006, after mTLS): authorises the peer's SPIFFE ID with the workload's
/// AuthorizationPolicies and forwards to the application on its local port, telling it who called in
/// <c>x-forwarded-client-cert</c> (Envoy's XFCC).
/// </summary>
public sealed class InboundForwarder(ProxyOptions options, ProxyConfigHolder config, InboundConnection connection, IHttpForwarder forwarder, HttpMessageInvoker client, ProxyMetrics metrics)
{
    private static readonly ForwarderRequestConfig Http1 = new() { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact, ActivityTimeout = TimeSpan.FromMinutes(5) };
    private static readonly ForwarderRequestConfig Http2 = new() { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, ActivityTimeout = TimeSpan.FromMinutes(5) };

    private readonly MeshRequestTransformer _transformer = Xfcc($"By={options.Identity};URI=");

    public async Task HandleAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var items = context.Features.Get<IConnectionItemsFeature>();
        var snapshot = config.Current;
        if (snapshot is null || InboundConnection.Sni(items) is not { } sni)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        if (!Http.RequestTarget.IsClean(context))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        var peer = InboundConnection.Peer(items);
        var port = connection.TargetPort(snapshot, sni);
        if (AuthorizationEvaluator.Check(snapshot.Config.AuthorizationPolicies, peer, port, context.Request.Method, context.Request.Path.Value ?? "/") is not null)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync("RBAC: access denied");
            Record(sni.Host, peer?.ToString() ?? "", StatusCodes.Status403Forbidden, started);
            return;
        }

        var route = snapshot.Find(sni.Host, (uint)sni.Port);
        var version = route?.IsHttp2 == true ? Http2 : Http1;
        await forwarder.SendAsync(context, $"http://{options.AppAddressOrDefault}:{port}", client, version, _transformer);
        Record(sni.Host, peer?.ToString() ?? "", context.Response.StatusCode, started);
    }

    /// <summary>Replaces whatever the caller sent with who this sidecar is and who the mTLS peer was.</summary>
    private static MeshRequestTransformer Xfcc(string prefix) => new((context, request) =>
    {
        var peer = InboundConnection.Peer(context.Features.Get<IConnectionItemsFeature>());
        request.Headers.Remove("x-forwarded-client-cert");
        request.Headers.TryAddWithoutValidation("x-forwarded-client-cert", prefix + peer);
    });

    private void Record(string service, string principal, int status, long started) =>
        metrics.DestinationRequest(options, principal, service, status, started);
}
