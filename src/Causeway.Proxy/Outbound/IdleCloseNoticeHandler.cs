using Causeway.Proxy.Http1;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// Turns a peer's <see cref="IdleCloseNotice"/> on a mesh HTTP/1.1 connection into the connection error it stands for, so
/// that the outbound forwarder sends the request to another endpoint as it does when a connection is refused: the
/// request crossed the notice on the wire and was not taken.
/// </summary>
public sealed class IdleCloseNoticeHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (request.Content is null && response.Version.Major == 1 &&
            IdleCloseNotice.Is((int)response.StatusCode, response.Headers.ConnectionClose != true, response.Content.Headers.ContentLength ?? -1))
        {
            response.Dispose();
            throw new HttpRequestException(HttpRequestError.ConnectionError, "the upstream closed the connection as the request crossed it (its idle-close notice, a 408)");
        }

        return response;
    }
}
