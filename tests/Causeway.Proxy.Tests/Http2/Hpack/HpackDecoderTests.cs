using System.Text;
using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Tests.Http2.Hpack;

public class HpackDecoderTests
{
    private static string Fields(HeaderList list)
    {
        var text = new StringBuilder();
        for (var i = 0; i < list.Count; i++)
        {
            text.Append(Encoding.ASCII.GetString(list.Name(i))).Append(": ").Append(Encoding.ASCII.GetString(list.Value(i))).Append('\n');
        }

        return text.ToString();
    }

    // Appendix C.3 (plain strings) and C.4 (Huffman-coded).
    [Theory]
    [InlineData("828684410f7777772e6578616d706c652e636f6d", "828684be58086e6f2d6361636865", "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565")]
    [InlineData("828684418cf1e3c2e5f23a6ba0ab90f4ff", "828684be5886a8eb10649cbf", "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf")]
    public void ThreeRequestsOnOneConnection_DecodeAsRfc7541AppendixC(string first, string second, string third)
    {
        var decoder = new HpackDecoder();
        using var list = new HeaderList();
        Assert.Equal(HpackResult.Complete, decoder.Decode(Convert.FromHexString(first), list, 64 * 1024));
        Assert.Equal(":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n", Fields(list));
        Assert.Equal(57, decoder.Table.Size);

        Assert.Equal(HpackResult.Complete, decoder.Decode(Convert.FromHexString(second), list, 64 * 1024));
        Assert.Equal(":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\ncache-control: no-cache\n", Fields(list));
        Assert.Equal(110, decoder.Table.Size);

        Assert.Equal(HpackResult.Complete, decoder.Decode(Convert.FromHexString(third), list, 64 * 1024));
        Assert.Equal(":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\ncustom-key: custom-value\n", Fields(list));
        Assert.Equal(164, decoder.Table.Size);
        Assert.Equal("custom-key", Encoding.ASCII.GetString(decoder.Table[1].Name));
    }

    [Fact]
    public void TheOldestEntries_AreEvictedToStayWithinTheTableSize()
    {
        var decoder = new HpackDecoder();
        decoder.Table.Resize(100);
        using var list = new HeaderList();
        var block = new byte[256];
        var n = 0;
        foreach (var value in new[] { "aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccc" })
        {
            block[n++] = 0x40;
            n += HpackEncoder.WriteInteger(4, 7, 0, block.AsSpan(n));
            Encoding.ASCII.GetBytes("name").CopyTo(block, n);
            n += 4;
            n += HpackEncoder.WriteInteger(value.Length, 7, 0, block.AsSpan(n));
            Encoding.ASCII.GetBytes(value).CopyTo(block, n);
            n += value.Length;
        }

        Assert.Equal(HpackResult.Complete, decoder.Decode(block.AsSpan(0, n), list, 64 * 1024));
        Assert.Equal(3, list.Count);
        Assert.Equal(1, decoder.Table.Count);
        Assert.Equal("cccccccccccccccccccc", Encoding.ASCII.GetString(decoder.Table[1].Value));
        Assert.Equal(56, decoder.Table.Size);
    }

    [Theory]
    [InlineData("80")] // index 0
    [InlineData("be")] // a dynamic index the table does not have
    [InlineData("ff80808080808001")] // an integer past 2^28
    [InlineData("400a6375")] // a string longer than the block
    [InlineData("823f0e")] // a table size update after a field
    [InlineData("3fe220")] // a table size update past the 4,096 the proxy allows
    [InlineData("418cf1e3c2e5f23a6ba0ab90f4")] // a Huffman string cut short: the length runs past the block
    public void InvalidBlocks_AreCompressionErrors(string hex)
    {
        using var list = new HeaderList();
        Assert.Equal(HpackResult.Invalid, new HpackDecoder().Decode(Convert.FromHexString(hex), list, 64 * 1024));
    }

    [Fact]
    public void ABlockPastTheListSize_StopsFillingTheListButKeepsTheTable()
    {
        var decoder = new HpackDecoder();
        using var list = new HeaderList();
        // A 1,000-byte value inserted once, then referenced 1,000 times: a million bytes from 2 KB of block.
        var block = new List<byte> { 0x40, 0x01, (byte)'x' };
        var length = new byte[5];
        var n = HpackEncoder.WriteInteger(1000, 7, 0, length);
        block.AddRange(length[..n]);
        block.AddRange(Enumerable.Repeat((byte)'v', 1000));
        block.AddRange(Enumerable.Repeat((byte)0xbe, 1000));
        Assert.Equal(HpackResult.TooLarge, decoder.Decode(block.ToArray(), list, 16 * 1024));
        Assert.True(list.ListSize <= 16 * 1024);
        Assert.Equal(15, list.Count);
        Assert.Equal(1, decoder.Table.Count);
    }

    [Fact]
    public void WhatTheEncoderWrites_TheDecoderReads()
    {
        var block = new byte[512];
        var n = HpackEncoder.WriteIndexed(StaticTable.MethodPost, block);
        n += HpackEncoder.WriteIndexed(StaticTable.SchemeHttp, block.AsSpan(n));
        n += HpackEncoder.WriteLiteral(StaticTable.Authority, "backend.default.svc.cluster.local:8080"u8, block.AsSpan(n));
        n += HpackEncoder.WriteLiteral(":path"u8, "/grpc.health.v1.Health/Check"u8, block.AsSpan(n));
        n += HpackEncoder.WriteStatus(503, block.AsSpan(n));
        n += HpackEncoder.WriteStatus(404, block.AsSpan(n));
        n += HpackEncoder.WriteLiteral("x-long"u8, Encoding.ASCII.GetBytes(new string('z', 300)), block.AsSpan(n));
        using var list = new HeaderList();
        Assert.Equal(HpackResult.Complete, new HpackDecoder().Decode(block.AsSpan(0, n), list, 64 * 1024));
        Assert.Equal(
            $":method: POST\n:scheme: http\n:authority: backend.default.svc.cluster.local:8080\n:path: /grpc.health.v1.Health/Check\n:status: 503\n:status: 404\nx-long: {new string('z', 300)}\n",
            Fields(list));
    }
}
