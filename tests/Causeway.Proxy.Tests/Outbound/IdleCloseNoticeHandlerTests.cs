using System.Net;
using Causeway.Proxy.Outbound;

namespace Causeway.Proxy.Tests.Outbound;

/// <summary>The mesh client's reading of a peer's idle-close notice, which the outbound forwarder then retries elsewhere.</summary>
public class IdleCloseNoticeHandlerTests
{
    [Fact]
    public async Task TheNotice_IsAConnectionError_AndAnythingElseIsTheResponse()
    {
        Assert.Equal(HttpRequestError.ConnectionError, (await Assert.ThrowsAsync<HttpRequestException>(() => SendAsync(Notice()))).HttpRequestError);

        // What is not the notice passes: a 408 that keeps the connection, one with a body, one to a request with a body.
        var keepAlive = Notice();
        keepAlive.Headers.ConnectionClose = false;
        Assert.Equal(HttpStatusCode.RequestTimeout, (await SendAsync(keepAlive)).StatusCode);
        var withBody = Notice();
        withBody.Content = new StringContent("timed out");
        Assert.Equal(HttpStatusCode.RequestTimeout, (await SendAsync(withBody)).StatusCode);
        Assert.Equal(HttpStatusCode.RequestTimeout, (await SendAsync(Notice(), new StringContent("upload"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(new HttpResponseMessage(HttpStatusCode.OK))).StatusCode);
    }

    private static HttpResponseMessage Notice()
    {
        var response = new HttpResponseMessage(HttpStatusCode.RequestTimeout) { Content = new ByteArrayContent([]) };
        response.Headers.ConnectionClose = true;
        return response;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpResponseMessage answer, HttpContent? body = null)
    {
        using var invoker = new HttpMessageInvoker(new IdleCloseNoticeHandler(new Answering(answer)));
        using var request = new HttpRequestMessage(body is null ? HttpMethod.Get : HttpMethod.Post, "http://u1:15006/hello") { Content = body };
        return await invoker.SendAsync(request, CancellationToken.None);
    }

    private sealed class Answering(HttpResponseMessage answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => Task.FromResult(answer);
    }
}
