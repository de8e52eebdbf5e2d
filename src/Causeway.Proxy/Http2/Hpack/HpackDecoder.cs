namespace Causeway.Proxy.Http2.Hpack;

/// <summary>What decoding a header block came to.</summary>
public enum HpackResult
{
    /// <summary>Every field is in the list.</summary>
    Complete,

    /// <summary>The block decoded, but its fields exceed the list size allowed: the fields past it were left out (the stream is refused, the connection goes on).</summary>
    TooLarge,

    /// <summary>The block is not valid HPACK: a connection error (COMPRESSION_ERROR), the decoder's state being lost.</summary>
    Invalid,
}

/// <summary>
/// Decodes HPACK header blocks (RFC 7541) of one connection's direction, keeping its dynamic table. Fields go into a
/// <see cref="HeaderList"/>; a block whose fields exceed the allowed list size stops filling it but is still decoded to
/// the end, so that the dynamic table stays the encoder's (and a block of small references to a large entry cannot
/// make the decoder hold more than the limit).
/// </summary>
public sealed class HpackDecoder(int maxTableSize = HpackDecoder.DefaultTableSize)
{
    /// <summary>SETTINGS_HEADER_TABLE_SIZE's default, which the proxy leaves as it is.</summary>
    public const int DefaultTableSize = 4096;

    private readonly DynamicTable _table = new(maxTableSize);

    public DynamicTable Table => _table;

    public HpackResult Decode(ReadOnlySpan<byte> block, HeaderList into, int maxListSize)
    {
        into.Clear();
        var tooLarge = false;
        var position = 0;
        var fieldsSeen = false;
        while (position < block.Length)
        {
            var first = block[position];
            if ((first & 0x80) != 0)
            {
                if (!TryReadInteger(block, ref position, 7, out var index) || !TryEntry(index, out var name, out var value))
                {
                    return HpackResult.Invalid;
                }

                Store(into, name, value, maxListSize, ref tooLarge);
                fieldsSeen = true;
                continue;
            }

            if ((first & 0xE0) == 0x20)
            {
                // A dynamic table size update: only before the block's first field, and within the size the proxy allows.
                if (fieldsSeen || !TryReadInteger(block, ref position, 5, out var size) || size > maxTableSize)
                {
                    return HpackResult.Invalid;
                }

                _table.Resize(size);
                continue;
            }

            var indexing = (first & 0xC0) == 0x40;
            if (!TryReadInteger(block, ref position, indexing ? 6 : 4, out var nameIndex))
            {
                return HpackResult.Invalid;
            }

            // The literal's name and value are read into the list's buffer (decoded there when Huffman-coded).
            int nameStart, nameLength;
            if (nameIndex == 0)
            {
                if (!TryReadString(block, ref position, into, out nameStart, out nameLength))
                {
                    return HpackResult.Invalid;
                }
            }
            else
            {
                if (!TryEntry(nameIndex, out var indexedName, out _))
                {
                    return HpackResult.Invalid;
                }

                nameStart = into.Reserve(indexedName.Length);
                nameLength = indexedName.Length;
                indexedName.CopyTo(into.Bytes(nameStart, nameLength));
            }

            if (!TryReadString(block, ref position, into, out var valueStart, out var valueLength))
            {
                return HpackResult.Invalid;
            }

            fieldsSeen = true;
            if (indexing)
            {
                _table.Insert(into.Bytes(nameStart, nameLength), into.Bytes(valueStart, valueLength));
            }

            if (!tooLarge && into.ListSize + nameLength + valueLength + 32 <= maxListSize)
            {
                into.AddField(nameStart, nameLength, valueStart, valueLength);
            }
            else
            {
                tooLarge = true;
                into.Unreserve(nameLength + valueLength);
            }

        }

        return tooLarge ? HpackResult.TooLarge : HpackResult.Complete;
    }

    private static void Store(HeaderList into, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int maxListSize, ref bool tooLarge)
    {
        if (!tooLarge && into.ListSize + name.Length + value.Length + 32 <= maxListSize)
        {
            into.Add(name, value);
        }
        else
        {
            tooLarge = true;
        }
    }

    private bool TryEntry(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        if (index >= 1 && index <= StaticTable.Count)
        {
            name = StaticTable.Name(index);
            value = StaticTable.Value(index);
            return true;
        }

        var dynamic = index - StaticTable.Count;
        if (dynamic >= 1 && dynamic <= _table.Count)
        {
            var entry = _table[dynamic];
            name = entry.Name;
            value = entry.Value;
            return true;
        }

        name = value = default;
        return false;
    }

    /// <summary>An HPACK integer with an N-bit prefix (section 5.1), at most 2^28: no header field is near that long.</summary>
    internal static bool TryReadInteger(ReadOnlySpan<byte> block, ref int position, int prefixBits, out int value)
    {
        var max = (1 << prefixBits) - 1;
        value = block[position++] & max;
        if (value < max)
        {
            return true;
        }

        for (var shift = 0; shift <= 21; shift += 7)
        {
            if (position == block.Length)
            {
                return false;
            }

            var b = block[position++];
            value += (b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryReadString(ReadOnlySpan<byte> block, ref int position, HeaderList into, out int start, out int length)
    {
        start = length = 0;
        if (position == block.Length)
        {
            return false;
        }

        var huffman = (block[position] & 0x80) != 0;
        if (!TryReadInteger(block, ref position, 7, out var encodedLength) || encodedLength > block.Length - position)
        {
            return false;
        }

        var encoded = block.Slice(position, encodedLength);
        position += encodedLength;
        if (!huffman)
        {
            start = into.Reserve(encodedLength);
            length = encodedLength;
            encoded.CopyTo(into.Bytes(start, length));
            return true;
        }

        var room = HuffmanCode.MaxDecodedLength(encodedLength);
        start = into.Reserve(room);
        length = HuffmanCode.Decode(encoded, into.Bytes(start, room));
        if (length < 0)
        {
            return false;
        }

        into.Unreserve(room - length);
        return true;
    }
}
