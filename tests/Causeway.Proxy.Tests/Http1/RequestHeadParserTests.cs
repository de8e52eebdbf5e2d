using System.Text;
using Causeway.Proxy.Http1;

namespace Causeway.Proxy.Tests.Http1;

public class RequestHeadParserTests
{
    private static readonly Http1Limits Limits = new();

    private static HeadStatus Parse(string text, out RequestHead head, Http1Limits? limits = null) =>
        RequestHeadParser.TryParse(Encoding.Latin1.GetBytes(text), limits ?? Limits, out head);

    private static string Upstream(string text, string extra = "")
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        Assert.Equal(HeadStatus.Complete, RequestHeadParser.TryParse(bytes, Limits, out var head));
        var destination = new byte[head.Length + extra.Length];
        var n = RequestHeadParser.WriteUpstream(bytes, head, Encoding.ASCII.GetBytes(extra), destination);
        return Encoding.Latin1.GetString(destination, 0, n);
    }

    [Fact]
    public void AnOriginFormRequest_IsReadWithItsHostLengthAndPath()
    {
        const string text = "POST /hello/world?x=1&y=%20 HTTP/1.1\r\nHost: helloworld.sample:5000\r\nContent-Length: 5\r\n\r\nhello";
        Assert.Equal(HeadStatus.Complete, Parse(text, out var head));
        var bytes = Encoding.ASCII.GetBytes(text);
        Assert.Equal(text.Length - 5, head.Length);
        Assert.Equal(5, head.ContentLength);
        Assert.False(head.Close);
        Assert.Equal("POST", Encoding.ASCII.GetString(bytes[head.Method]));
        Assert.Equal("/hello/world?x=1&y=%20", Encoding.ASCII.GetString(bytes[head.PathAndQuery]));
        Assert.Equal("/hello/world", Encoding.ASCII.GetString(bytes[head.Path]));
        Assert.Equal("helloworld.sample:5000", Encoding.ASCII.GetString(bytes[head.Host]));
    }

    [Fact]
    public void AnAbsoluteFormRequest_AsCurlSendsToAProxy_GoesUpstreamInOriginForm()
    {
        Assert.Equal("GET /hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
            Upstream("GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n"));
    }

    [Fact]
    public void HopByHopFieldsAreDropped_AndTheCallersClientCertIsReplacedWhenTheProxySaysWhoCalled()
    {
        const string text = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Forwarded-Client-Cert: By=forged\r\nX-Kept: 1\r\n\r\n";
        Assert.Equal("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Client-Cert: By=forged\r\nX-Kept: 1\r\n\r\n", Upstream(text));
        Assert.Equal("GET / HTTP/1.1\r\nHost: a\r\nX-Kept: 1\r\nx-forwarded-client-cert: By=me;URI=you\r\n\r\n", Upstream(text, "x-forwarded-client-cert: By=me;URI=you\r\n"));
    }

    [Fact]
    public void ConnectionClose_IsRead()
    {
        Assert.Equal(HeadStatus.Complete, Parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, close\r\n\r\n", out var head));
        Assert.True(head.Close);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHo")]
    [InlineData("GET")]
    public void APartialHead_IsIncomplete(string text) => Assert.Equal(HeadStatus.Incomplete, Parse(text, out _));

    [Theory]
    [InlineData("lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")]
    [InlineData("HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n")]
    [InlineData("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")]
    [InlineData("asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("https absolute-form", "GET https://a/ HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("absolute-form without a path", "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("absolute-form with userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("absolute-form naming another host", "GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("percent-encoding", "GET /%70rivate HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("dot segment", "GET /public/../private HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("trailing dot segment", "GET /public/.. HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("single dot", "GET /./private HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("empty segment", "GET //private HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("backslash", "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("semicolon", "GET /private;/x HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("fragment", "GET /a?b#c HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("control in target", "GET /a\u000fb HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("non-ASCII in target", "GET /\u00e9 HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("no Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n")]
    [InlineData("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")]
    [InlineData("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n")]
    [InlineData("Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("two Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\n")]
    [InlineData("signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n")]
    [InlineData("Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n")]
    [InlineData("Upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")]
    [InlineData("Expect", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")]
    [InlineData("Connection naming a header", "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\n\r\n")]
    [InlineData("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n")]
    [InlineData("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n")]
    [InlineData("NUL in a name", "GET / HTTP/1.1\r\nHost: a\r\nX-A\0b: v\r\n\r\n")]
    [InlineData("NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: v\0x\r\n\r\n")]
    [InlineData("bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: v\rGET /smuggled HTTP/1.1\r\n\r\n")]
    [InlineData("bare LF, complete", "GET / HTTP/1.1\nHost: a\r\n\r\n")]
    [InlineData("bare LF, no CRLFCRLF", "GET / HTTP/1.1\nHost: a\n\n")]
    public void AnythingUnusualOrMalformed_IsLeftToKestrel(string name, string text) =>
        Assert.True(HeadStatus.NotHandled == Parse(text, out _), name);

    [Fact]
    public void HeadsOverTheLimits_AreLeftToKestrel_WhichAnswers431()
    {
        var limits = new Http1Limits { MaxRequestHeadBytes = 100, MaxRequestHeaders = 3 };
        Assert.Equal(HeadStatus.NotHandled, Parse("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + new string('a', 100) + "\r\n\r\n", out _, limits));
        Assert.Equal(HeadStatus.NotHandled, Parse("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + new string('a', 100), out _, limits));
        Assert.Equal(HeadStatus.NotHandled, Parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", out _, limits));
        Assert.Equal(HeadStatus.Complete, Parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", out _, limits));
    }

    [Fact]
    public void PipelinedRequests_AreReadOneHeadAtATime()
    {
        const string first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
        Assert.Equal(HeadStatus.Complete, Parse(first + "GET /two HTTP/1.1\r\nHost: a\r\n\r\n", out var head));
        Assert.Equal(first.Length, head.Length);
    }
}
