using System.Text;
using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Tests.Http2.Hpack;

public class HuffmanCodeTests
{
    [Theory]
    [InlineData(0, 0x1ff8u, 13)]
    [InlineData('0', 0x0u, 5)]
    [InlineData(' ', 0x14u, 6)]
    [InlineData('a', 0x3u, 5)]
    [InlineData('~', 0x1ffdu, 13)]
    [InlineData(255, 0x3ffffeeu, 26)]
    [InlineData(HuffmanCode.EndOfString, 0x3fffffffu, 30)]
    public void TheCanonicalCodes_AreRfc7541AppendixB(int symbol, uint code, int length) =>
        Assert.Equal((code, length), HuffmanCode.Codes[symbol]);

    [Fact]
    public void TheCodeLengths_FillTheCodeSpaceExactly()
    {
        // Kraft's sum is 1 for a complete prefix code: a wrong length anywhere breaks it.
        var sum = 0.0;
        foreach (var (_, length) in HuffmanCode.Codes)
        {
            sum += Math.Pow(2, -length);
        }

        Assert.Equal(1.0, sum, 12);
    }

    [Theory]
    [InlineData("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff")]
    [InlineData("no-cache", "a8eb10649cbf")]
    [InlineData("custom-key", "25a849e95ba97d7f")]
    [InlineData("custom-value", "25a849e95bb8e8b4bf")]
    public void TheRfcExamples_EncodeAndDecode(string text, string hex)
    {
        var encoded = Convert.FromHexString(hex);
        var value = Encoding.ASCII.GetBytes(text);
        Assert.Equal(encoded.Length, HuffmanCode.EncodedLength(value));
        var written = new byte[encoded.Length];
        Assert.Equal(encoded.Length, HuffmanCode.Encode(value, written));
        Assert.Equal(encoded, written);
        var decoded = new byte[HuffmanCode.MaxDecodedLength(encoded.Length)];
        var n = HuffmanCode.Decode(encoded, decoded);
        Assert.Equal(text, Encoding.ASCII.GetString(decoded, 0, n));
    }

    [Fact]
    public void EveryByteValue_RoundTrips()
    {
        var all = new byte[256 * 3];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = (byte)(i * 7);
        }

        var encoded = new byte[HuffmanCode.EncodedLength(all)];
        HuffmanCode.Encode(all, encoded);
        var decoded = new byte[HuffmanCode.MaxDecodedLength(encoded.Length)];
        var n = HuffmanCode.Decode(encoded, decoded);
        Assert.Equal(all, decoded[..n]);
    }

    [Theory]
    [InlineData("f1e3c2e5f23a6ba0ab90f4ffff")] // a whole byte of padding: more than 7 bits
    [InlineData("f1e3c2e5f23a6ba0ab90f400")] // padding of zeros, not of EOS's ones
    [InlineData("fffffffc")] // EOS itself (30 ones) then padding
    public void BadPaddingAndEndOfString_AreRefused(string hex)
    {
        var encoded = Convert.FromHexString(hex);
        Assert.Equal(-1, HuffmanCode.Decode(encoded, new byte[64]));
    }

    [Fact]
    public void ADestinationTooSmall_IsRefused() =>
        Assert.Equal(-1, HuffmanCode.Decode(Convert.FromHexString("f1e3c2e5f23a6ba0ab90f4ff"), new byte[4]));
}
