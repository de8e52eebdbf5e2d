using System.Buffers;
using System.Text;
using Causeway.Proxy.Http2;
using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Tests.Http2;

/// <summary>The HTTP/1.1 head an application gets for a mesh HTTP/2 request (the end-to-end cases are in <see cref="Http2ForwarderTests"/>).</summary>
public class Http1ApplicationStreamTests
{
    [Fact]
    public void TheHead_HasHostFromAuthority_OneCookieField_TheListenersXfcc_AndChunkedFramingForABodyOfUnknownLength()
    {
        using var headers = new HeaderList();
        headers.Add(":method"u8, "POST"u8);
        headers.Add(":scheme"u8, "http"u8);
        headers.Add(":path"u8, "/upload?x=1"u8);
        headers.Add(":authority"u8, "helloworld.sample:5000"u8);
        headers.Add("cookie"u8, "a=1"u8);
        headers.Add("x-forwarded-client-cert"u8, "By=forged"u8);
        headers.Add("te"u8, "trailers"u8);
        headers.Add("accept"u8, "*/*"u8);
        headers.Add("cookie"u8, "b=2"u8);
        var head = new Http2RequestHead { Method = 0, Scheme = 1, Path = 2, Authority = 3 };

        var length = Http1ApplicationStream.EncodeRequestHead(headers, head, chunked: true, "By=me;URI=you"u8, out var block);
        try
        {
            Assert.Equal(
                "POST /upload?x=1 HTTP/1.1\r\nhost: helloworld.sample:5000\r\naccept: */*\r\ncookie: a=1; b=2\r\n" +
                "x-forwarded-client-cert: By=me;URI=you\r\ntransfer-encoding: chunked\r\n\r\n",
                Encoding.ASCII.GetString(block, 0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    [Fact]
    public void TheHead_OfARequestWithALength_TakesHostWhenThereIsNoAuthority_AndNoFraming()
    {
        using var headers = new HeaderList();
        headers.Add(":method"u8, "GET"u8);
        headers.Add(":scheme"u8, "http"u8);
        headers.Add(":path"u8, "/"u8);
        headers.Add("host"u8, "fortune.sample:6000"u8);
        headers.Add("content-length"u8, "0"u8);
        var head = new Http2RequestHead { Method = 0, Scheme = 1, Path = 2, Host = 3, ContentLength = 0 };

        var length = Http1ApplicationStream.EncodeRequestHead(headers, head, chunked: false, "By=me"u8, out var block);
        try
        {
            Assert.Equal("GET / HTTP/1.1\r\nhost: fortune.sample:6000\r\ncontent-length: 0\r\nx-forwarded-client-cert: By=me\r\n\r\n", Encoding.ASCII.GetString(block, 0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }
}
