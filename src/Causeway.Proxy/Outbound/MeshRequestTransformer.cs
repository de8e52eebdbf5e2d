using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Causeway.Proxy.Outbound;

/// <summary>Keeps the authority the client asked for (e.g. <c>helloworld.sample:5000</c>); the upstream URI names only the pooled connection.</summary>
public sealed class MeshRequestTransformer(Action<HttpContext, HttpRequestMessage>? extra = null) : HttpTransformer
{
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        extra?.Invoke(httpContext, proxyRequest);
    }
}
