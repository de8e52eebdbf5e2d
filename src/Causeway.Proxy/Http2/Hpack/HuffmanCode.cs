namespace Causeway.Proxy.Http2.Hpack;

/// <summary>
/// HPACK's static Huffman code (RFC 7541, Appendix B). The code is canonical, so the table is the code length of each
/// symbol; the codes follow from it. Decoding walks the code's tree four bits at a time through a table built once
/// (256 inner nodes × 16 nibbles), as nghttp2 does: no symbol is shorter than five bits, so a nibble ends at most one.
/// </summary>
public static class HuffmanCode
{
    /// <summary>The end-of-string symbol, which must never appear in a decoded string.</summary>
    public const int EndOfString = 256;

    // Code lengths by symbol length group (RFC 7541, Appendix B), listed as length then the symbols of that length.
    private static readonly (int Length, int[] Symbols)[] LengthGroups =
    [
        (5, [48, 49, 50, 97, 99, 101, 105, 111, 115, 116]),
        (6, [32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56, 57, 61, 65, 95, 98, 100, 102, 103, 104, 108, 109, 110, 112, 114, 117]),
        (7, [58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 89, 106, 107, 113, 118, 119, 120, 121, 122]),
        (8, [38, 42, 44, 59, 88, 90]),
        (10, [33, 34, 40, 41, 63]),
        (11, [39, 43, 124]),
        (12, [35, 62]),
        (13, [0, 36, 64, 91, 93, 126]),
        (14, [94, 125]),
        (15, [60, 96, 123]),
        (19, [92, 195, 208]),
        (20, [128, 130, 131, 162, 184, 194, 224, 226]),
        (21, [153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230]),
        (22, [129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232, 233]),
        (23, [1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166, 168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239]),
        (24, [9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237]),
        (25, [199, 207, 234, 235]),
        (26, [192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255]),
        (27, [203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252, 253, 254]),
        (28, [2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127, 220, 249]),
        (30, [10, 13, 22, 256]),
    ];

    private const byte Emits = 1;
    private const byte Fails = 2;
    private const byte Accepts = 4;

    // Per (state, nibble): the next state, the symbol ended (if Emits) and flags; per state whether input may end there.
    private static readonly byte[] NextState = new byte[256 * 16];
    private static readonly byte[] Symbol = new byte[256 * 16];
    private static readonly byte[] Flags = new byte[256 * 16];
    private static readonly bool[] MayEnd = new bool[256];

    /// <summary>Each symbol's code, right-aligned, and its length in bits.</summary>
    internal static readonly (uint Code, int Length)[] Codes = BuildCodes();

    static HuffmanCode() => BuildDecoder();

    private static (uint, int)[] BuildCodes()
    {
        var codes = new (uint, int)[257];
        uint code = 0;
        var length = LengthGroups[0].Length;
        foreach (var (groupLength, symbols) in LengthGroups)
        {
            code <<= groupLength - length;
            length = groupLength;
            foreach (var symbol in symbols)
            {
                codes[symbol] = (code++, length);
            }
        }

        return codes;
    }

    private static void BuildDecoder()
    {
        // The tree: inner nodes numbered as made, the root 0; a child is an inner node (>= 0) or a symbol (-1 - symbol).
        var children = new int[256, 2];
        var made = 1;
        for (var symbol = 0; symbol <= EndOfString; symbol++)
        {
            var (code, length) = Codes[symbol];
            var node = 0;
            for (var bit = length - 1; bit > 0; bit--)
            {
                var b = (int)(code >> bit) & 1;
                if (children[node, b] == 0)
                {
                    children[node, b] = made++;
                }

                node = children[node, b];
            }

            children[node, (int)code & 1] = -1 - symbol;
        }

        // A state may end the input when it is the root or lies on the all-ones path (EOS's prefix) at most 7 bits deep.
        var onesNode = 0;
        MayEnd[0] = true;
        for (var depth = 1; depth <= 7; depth++)
        {
            onesNode = children[onesNode, 1];
            MayEnd[onesNode] = true;
        }

        for (var state = 0; state < 256; state++)
        {
            for (var nibble = 0; nibble < 16; nibble++)
            {
                var node = state;
                byte flags = 0;
                byte symbol = 0;
                for (var bit = 3; bit >= 0; bit--)
                {
                    var child = children[node, (nibble >> bit) & 1];
                    if (child >= 0)
                    {
                        node = child;
                        continue;
                    }

                    if (-1 - child == EndOfString)
                    {
                        flags |= Fails;
                        break;
                    }

                    flags |= Emits;
                    symbol = (byte)(-1 - child);
                    node = 0;
                }

                var index = (state * 16) + nibble;
                NextState[index] = (byte)node;
                Symbol[index] = symbol;
                Flags[index] = (byte)(flags | (MayEnd[node] ? Accepts : 0));
            }
        }
    }

    /// <summary>
    /// Decodes <paramref name="source"/> into <paramref name="destination"/>; the number of bytes written, or -1 when the
    /// input is not a valid Huffman string (EOS inside, padding longer than 7 bits or not all ones) or does not fit.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var state = 0;
        var written = 0;
        var flags = Accepts;
        foreach (var b in source)
        {
            for (var shift = 4; shift >= 0; shift -= 4)
            {
                var index = (state * 16) + ((b >> shift) & 0xF);
                flags = Flags[index];
                if ((flags & Fails) != 0)
                {
                    return -1;
                }

                if ((flags & Emits) != 0)
                {
                    if (written == destination.Length)
                    {
                        return -1;
                    }

                    destination[written++] = Symbol[index];
                }

                state = NextState[index];
            }
        }

        return (flags & Accepts) != 0 ? written : -1;
    }

    /// <summary>The most bytes <paramref name="encodedLength"/> bytes of Huffman code can decode to (the shortest code is 5 bits).</summary>
    public static int MaxDecodedLength(int encodedLength) => (encodedLength * 8 / 5) + 1;

    /// <summary>The encoded length of <paramref name="value"/> in bytes.</summary>
    public static int EncodedLength(ReadOnlySpan<byte> value)
    {
        long bits = 0;
        foreach (var b in value)
        {
            bits += Codes[b].Length;
        }

        return (int)((bits + 7) / 8);
    }

    /// <summary>Encodes <paramref name="value"/> into <paramref name="destination"/> (at least <see cref="EncodedLength"/> bytes), padding with ones; the bytes written.</summary>
    public static int Encode(ReadOnlySpan<byte> value, Span<byte> destination)
    {
        ulong buffer = 0;
        var bits = 0;
        var written = 0;
        foreach (var b in value)
        {
            var (code, length) = Codes[b];
            buffer = (buffer << length) | code;
            bits += length;
            while (bits >= 8)
            {
                bits -= 8;
                destination[written++] = (byte)(buffer >> bits);
            }
        }

        if (bits > 0)
        {
            destination[written++] = (byte)((buffer << (8 - bits)) | (0xFFu >> bits));
        }

        return written;
    }
}
