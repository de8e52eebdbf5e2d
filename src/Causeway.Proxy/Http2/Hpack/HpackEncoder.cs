namespace Causeway.Proxy.Http2.Hpack;

/// <summary>
/// Writes HPACK header blocks without a dynamic table: static-table references where the table holds the field,
/// otherwise literals "without indexing" with plain (not Huffman) strings. A block then depends on nothing the peer
/// remembers, so blocks for one connection may be encoded on any thread and in any order, and the peer's
/// SETTINGS_HEADER_TABLE_SIZE does not matter. The cost is bytes on the wire, not CPU.
/// </summary>
public static class HpackEncoder
{
    /// <summary>The most bytes a literal field of these lengths takes.</summary>
    public static int MaxLiteralLength(int nameLength, int valueLength) => 1 + 5 + nameLength + 5 + valueLength;

    /// <summary>An indexed field (section 6.1).</summary>
    public static int WriteIndexed(int index, Span<byte> destination) => WriteInteger(index, 7, 0x80, destination);

    /// <summary>A literal without indexing whose name is static-table entry <paramref name="nameIndex"/> (section 6.2.2).</summary>
    public static int WriteLiteral(int nameIndex, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        var n = WriteInteger(nameIndex, 4, 0x00, destination);
        return n + WriteString(value, destination[n..]);
    }

    /// <summary>A literal without indexing with a new name (section 6.2.2).</summary>
    public static int WriteLiteral(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        destination[0] = 0;
        var n = 1 + WriteString(name, destination[1..]);
        return n + WriteString(value, destination[n..]);
    }

    /// <summary>
    /// A literal without indexing with a new name that comes from HTTP/1.1, whose names are case-insensitive: written in
    /// lowercase, as HTTP/2 requires (RFC 9113, section 8.2.1). The name must be a token (ASCII).
    /// </summary>
    public static int WriteLiteralLowercase(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        destination[0] = 0;
        var n = 1 + WriteInteger(name.Length, 7, 0x00, destination[1..]);
        System.Text.Ascii.ToLower(name, destination.Slice(n, name.Length), out _);
        n += name.Length;
        return n + WriteString(value, destination[n..]);
    }

    /// <summary><c>:status</c>, indexed when the static table has it.</summary>
    public static int WriteStatus(int status, Span<byte> destination)
    {
        var index = StaticTable.OfStatus(status);
        if (index != 0)
        {
            return WriteIndexed(index, destination);
        }

        Span<byte> digits = stackalloc byte[3];
        digits[0] = (byte)('0' + (status / 100 % 10));
        digits[1] = (byte)('0' + (status / 10 % 10));
        digits[2] = (byte)('0' + (status % 10));
        return WriteLiteral(StaticTable.Status200, digits, destination);
    }

    private static int WriteString(ReadOnlySpan<byte> value, Span<byte> destination)
    {
        var n = WriteInteger(value.Length, 7, 0x00, destination);
        value.CopyTo(destination[n..]);
        return n + value.Length;
    }

    /// <summary>An HPACK integer with an N-bit prefix (section 5.1) under the first byte's <paramref name="flags"/>.</summary>
    public static int WriteInteger(int value, int prefixBits, byte flags, Span<byte> destination)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max)
        {
            destination[0] = (byte)(flags | value);
            return 1;
        }

        destination[0] = (byte)(flags | max);
        value -= max;
        var n = 1;
        while (value >= 0x80)
        {
            destination[n++] = (byte)((value & 0x7F) | 0x80);
            value >>= 7;
        }

        destination[n++] = (byte)value;
        return n;
    }
}
