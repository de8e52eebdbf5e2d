using System.Text;
using Causeway.LoadBench.Load;

namespace Causeway.Benchmarks.Tests.LoadBench;

/// <summary>The load generator's response framing: a response ends where its length says, and not a byte before.</summary>
public class HttpResponseReaderTests
{
    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200)]
    [InlineData("HTTP/1.1 503 Service Unavailable\r\ncontent-length:  0\r\n\r\n", 503)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n", 200)]
    [InlineData("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", 204)]
    public void AWholeResponseIsFoundAndEveryPrefixAsksForMore(string text, int status)
    {
        var bytes = Encoding.ASCII.GetBytes(text + "HTTP/1.1 200 OK\r\n");
        Assert.Equal(text.Length, HttpResponseReader.TryRead(bytes, out var seen));
        Assert.Equal(status, seen);
        for (var n = 0; n < text.Length; n++)
        {
            Assert.Equal(0, HttpResponseReader.TryRead(bytes.AsSpan(0, n), out _));
        }
    }

    [Theory]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx")]
    [InlineData("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n")]
    [InlineData("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")]
    public void WhatALoadCannotFrameIsRefused(string text) =>
        Assert.Equal(-1, HttpResponseReader.TryRead(Encoding.ASCII.GetBytes(text), out _));
}
