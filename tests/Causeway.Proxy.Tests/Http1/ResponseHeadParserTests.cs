using System.Text;
using Causeway.Proxy.Http1;

namespace Causeway.Proxy.Tests.Http1;

public class ResponseHeadParserTests
{
    private static HeadStatus Parse(string text, out ResponseHead head) => ResponseHeadParser.TryParse(Encoding.Latin1.GetBytes(text), 60 * 1024, out head);

    private static string Downstream(string text, bool closeClient)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        Assert.Equal(HeadStatus.Complete, ResponseHeadParser.TryParse(bytes, 60 * 1024, out var head));
        var destination = new byte[ResponseHeadParser.MaxDownstreamLength(head.Length)];
        return Encoding.Latin1.GetString(destination, 0, ResponseHeadParser.WriteDownstream(bytes, head, closeClient, destination));
    }

    [Fact]
    public void AContentLengthResponse_KeepsItsConnection()
    {
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nContent-Type: text/plain\r\n\r\n", out var head));
        Assert.Equal((200, 1024L, false, true), (head.Status, head.ContentLength, head.Chunked, head.KeepAlive));
        Assert.True(head.HasBody(headRequest: false));
        Assert.False(head.HasBody(headRequest: true));
    }

    [Fact]
    public void ChunkedOverridesContentLength_WhichIsNotPassedOn()
    {
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n", out var head));
        Assert.True(head.Chunked);
        Assert.Equal(-1, head.ContentLength);
        Assert.Equal("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Downstream("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n", false));
    }

    [Fact]
    public void ABodyWithNeitherLengthNorChunks_RunsUntilClose_AndTheConnectionIsNotKept()
    {
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", out var head));
        Assert.True(head.BodyUntilClose);
        Assert.False(head.KeepAlive);
    }

    [Fact]
    public void Http10AndConnectionClose_AreNotKept_AndTheClientGetsHttp11WithoutHopByHopFields()
    {
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", out var http10));
        Assert.False(http10.KeepAlive);
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", out var close));
        Assert.False(close.KeepAlive);
        Assert.Equal("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Downstream("HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", closeClient: true));
    }

    [Fact]
    public void NoBodyFor204_304_AndInformational()
    {
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.1 204 No Content\r\n\r\n", out var noContent));
        Assert.False(noContent.HasBody(false));
        Assert.True(noContent.KeepAlive);
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", out var hints));
        Assert.True(hints.IsInformational);
        Assert.Equal(HeadStatus.Complete, Parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", out var noReason));
        Assert.Equal(200, noReason.Status);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n")]
    [InlineData("HTTP/1.1 2x0 OK\r\n\r\n")]
    [InlineData("HTTP/2 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX : a\r\n\r\n")]
    public void AMalformedResponseHead_IsNotPassedOn(string text) => Assert.Equal(HeadStatus.NotHandled, Parse(text, out _));

    [Fact]
    public void APartialHead_IsIncomplete_UntilItPassesTheLimit()
    {
        Assert.Equal(HeadStatus.Incomplete, Parse("HTTP/1.1 200 OK\r\nContent-Len", out _));
        Assert.Equal(HeadStatus.NotHandled, ResponseHeadParser.TryParse(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nX: " + new string('a', 200)), 100, out _));
    }
}
