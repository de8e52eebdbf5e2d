using System.Diagnostics;
using System.Net;
using Causeway.Core.Naming;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.LoadBalancing;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// The sidecar's outbound HTTP (port 15001): resolves the request's authority to a mesh service, picks an endpoint
/// per request, and forwards over mTLS to the endpoint's sidecar or to its network's east-west gateway, or as plain
/// HTTP/1.1 to an endpoint with no sidecar (Istio's auto mTLS). On the mesh hop a request keeps its protocol unless the
/// service's DestinationRule upgrades HTTP/1.1 to HTTP/2 (<see cref="ServiceRoute.MeshHopIsHttp2"/>). A request that
/// never reached an application (the connection failed) is retried on another endpoint.
/// </summary>
public sealed class OutboundForwarder(ProxyOptions options, ProxyConfigHolder config, IHttpForwarder forwarder, HttpMessageInvoker client, HttpMessageInvoker plaintextClient, UpstreamTargets targets, ProxyMetrics metrics, ILogger<OutboundForwarder> logger)
{
    private static readonly ForwarderRequestConfig MeshHttp2 = new()
    {
        Version = HttpVersion.Version20,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        ActivityTimeout = TimeSpan.FromMinutes(5),
    };

    private static readonly ForwarderRequestConfig MeshHttp11 = new()
    {
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        ActivityTimeout = TimeSpan.FromMinutes(5),
    };

    private static readonly ForwarderRequestConfig PlaintextConfig = new()
    {
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        ActivityTimeout = TimeSpan.FromMinutes(5),
    };

    private static readonly MeshRequestTransformer Transformer = new();

    private readonly string _principal = options.Identity.ToString();

    public async Task HandleAsync(HttpContext context)
    {
        var snapshot = config.Current;
        if (snapshot is null)
        {
            await Reply(context, StatusCodes.Status503ServiceUnavailable, "causeway: no configuration from the control plane yet\n");
            return;
        }

        if (!Http.RequestTarget.IsClean(context))
        {
            await Reply(context, StatusCodes.Status400BadRequest, "causeway: the request target holds a control character\n");
            return;
        }

        var host = context.Request.Host;
        var port = (uint)(host.Port ?? 80);
        var fqdn = ServiceHostname.ToFqdn(host.Host, options.Namespace);
        var route = (fqdn is null ? null : snapshot.Find(fqdn, port)) ?? TransparentOutbound.RouteOf(context.Features.Get<IConnectionItemsFeature>());
        if (route is null)
        {
            await Reply(context, StatusCodes.Status404NotFound, $"causeway: '{host.Value}' is not a mesh service this sidecar knows\n");
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var sni = route.MeshSni;
        var canRetry = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true;
        var meshConfig = route.MeshHopIsHttp2(HttpProtocol.IsHttp2(context.Request.Protocol)) ? MeshHttp2 : MeshHttp11;
        UpstreamEndpoint? previous = null;
        for (var attempt = 0; ; attempt++)
        {
            var endpoint = route.Picker.Pick(previous);
            if (endpoint is null)
            {
                await Reply(context, StatusCodes.Status503ServiceUnavailable, "no healthy upstream\n");
                Record(route, null, context.Response.StatusCode, started);
                return;
            }

            endpoint.RequestStarted();
            ForwarderError error;
            try
            {
                error = endpoint.Plaintext
                    ? await forwarder.SendAsync(context, endpoint.HttpPrefix, plaintextClient, PlaintextConfig, Transformer)
                    : await forwarder.SendAsync(context, MeshPrefix(endpoint, sni), client, meshConfig, Transformer);
            }
            finally
            {
                endpoint.RequestEnded();
            }

            if (error == ForwarderError.None)
            {
                endpoint.Succeeded();
                Record(route, endpoint, context.Response.StatusCode, started);
                return;
            }

            logger.LogWarning("{Method} {Host}{Path} to {Endpoint} (attempt {Attempt}) failed: {Error} {Reason}", context.Request.Method, host.Value, context.Request.Path.Value,
                endpoint, attempt + 1, error, context.Features.Get<IForwarderErrorFeature>()?.Exception?.GetBaseException().Message);

            var unreached = error is ForwarderError.Request && !context.Response.HasStarted && NeverSent(context.Features.Get<IForwarderErrorFeature>()?.Exception);
            if (unreached)
            {
                ConnectFailures.Record(endpoint, options);
            }

            if (!unreached || !canRetry || attempt >= options.MaxRetries)
            {
                Record(route, endpoint, context.Response.StatusCode, started);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Features.Set<IForwarderErrorFeature>(null);
            previous = endpoint;
        }
    }

    /// <summary>
    /// True when the request cannot have reached an application: the connection (TCP or the mesh TLS handshake) failed.
    /// A stream reset or a connection lost after the request was sent is not retried: the application may have acted
    /// on it (Istio's default retryOn has connect-failure and refused-stream, not reset).
    /// </summary>
    private static bool NeverSent(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError or HttpRequestError.NameResolutionError })
            {
                return true;
            }
        }

        return false;
    }

    private string MeshPrefix(UpstreamEndpoint endpoint, string sni)
    {
        var target = new UpstreamTarget(endpoint.Address, endpoint.ViaGateway ? (int)endpoint.Port : options.InboundPort, sni);
        return $"http://{targets.NameOf(target)}:{target.Port}";
    }

    private void Record(ServiceRoute route, UpstreamEndpoint? endpoint, int status, long started) =>
        metrics.SourceRequest(options, _principal, route.Hostname, endpoint, status, started);

    private static async Task Reply(HttpContext context, int status, string body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync(body);
    }
}
