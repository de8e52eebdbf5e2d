using System.Text;
using Causeway.Proxy.Http1;

namespace Causeway.Proxy.Tests.Http1;

public class ChunkedBodyScannerTests
{
    [Theory]
    [InlineData("5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n")]
    [InlineData("5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n")]
    [InlineData("0\r\n\r\n")]
    public void FindsTheEnd_WhetherTheBytesComeWholeOrOneByOne(string body)
    {
        var bytes = Encoding.ASCII.GetBytes(body + "NEXT");
        var whole = new ChunkedBodyScanner();
        Assert.Equal(body.Length, whole.Scan(bytes));
        Assert.True(whole.IsDone);

        var split = new ChunkedBodyScanner();
        var total = 0;
        for (var i = 0; i < bytes.Length && !split.IsDone; i++)
        {
            total += split.Scan(bytes.AsSpan(i, 1));
        }

        Assert.Equal(body.Length, total);
    }

    [Theory]
    [InlineData("5\r\nhelloX\r\n0\r\n\r\n")]
    [InlineData("x\r\n")]
    [InlineData("\r\n")]
    [InlineData("5\nhello\r\n")]
    [InlineData("10000000000000000\r\n")]
    [InlineData("0\r\n: bad\r\n\r\n")]
    public void BrokenFraming_IsAnError(string body) => Assert.Equal(-1, new ChunkedBodyScanner().Scan(Encoding.ASCII.GetBytes(body)));

    [Fact]
    public void AnUnfinishedBody_IsNotDone()
    {
        var scanner = new ChunkedBodyScanner();
        Assert.Equal(10, scanner.Scan("5\r\nhello\r\n"u8));
        Assert.False(scanner.IsDone);
    }
}
