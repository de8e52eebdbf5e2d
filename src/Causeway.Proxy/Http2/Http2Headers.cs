using System.Buffers;
using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Http2;

/// <summary>
/// The rules HTTP/2 sets on header fields (RFC 9113, section 8.2) as the proxy checks them, and the header blocks it
/// writes: responses and trailers passed on, and its own short answers.
/// </summary>
public static class Http2Headers
{
    /// <summary>
    /// False for a field a message must not carry (a "malformed" message): a name that is empty, not lowercase or not
    /// a token; a value with NUL, CR or LF, or starting or ending with whitespace; a connection-specific field.
    /// </summary>
    public static bool IsValidField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (name.Length == 0)
        {
            return false;
        }

        var start = name[0] == (byte)':' ? 1 : 0;
        for (var i = start; i < name.Length; i++)
        {
            if (!IsLowercaseTokenChar(name[i]))
            {
                return false;
            }
        }

        if (value.Length > 0 && (IsWhitespace(value[0]) || IsWhitespace(value[^1])))
        {
            return false;
        }

        if (value.IndexOfAny((byte)0, (byte)'\r', (byte)'\n') >= 0)
        {
            return false;
        }

        return start == 1 || !IsConnectionSpecific(name, value);
    }

    /// <summary>Fields HTTP/2 forbids (RFC 9113, section 8.2.2); <c>te</c> only with a value other than "trailers".</summary>
    public static bool IsConnectionSpecific(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8) || name.SequenceEqual("proxy-connection"u8) ||
        name.SequenceEqual("transfer-encoding"u8) || name.SequenceEqual("upgrade"u8) || (name.SequenceEqual("te"u8) && !value.SequenceEqual("trailers"u8));

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t';

    private static bool IsLowercaseTokenChar(byte b) =>
        b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or
            (byte)'&' or (byte)'\'' or (byte)'*' or (byte)'+' or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';

    /// <summary>A three-digit <c>:status</c>, or 0.</summary>
    public static int ParseStatus(ReadOnlySpan<byte> value)
    {
        if (value.Length != 3)
        {
            return 0;
        }

        var status = 0;
        foreach (var b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return 0;
            }

            status = (status * 10) + (b - '0');
        }

        return status >= 100 ? status : 0;
    }

    /// <summary>The bytes a block of these fields may take when every one is a literal.</summary>
    public static int MaxBlockLength(HeaderList fields)
    {
        var length = 16;
        for (var i = 0; i < fields.Count; i++)
        {
            length += HpackEncoder.MaxLiteralLength(fields.Name(i).Length, fields.Value(i).Length);
        }

        return length;
    }

    /// <summary>
    /// A response head or trailers from an upstream, for the client: the status (a head), then every field but the
    /// pseudo-headers; the block is in a pooled buffer the caller returns. False when a field is malformed or a trailer
    /// is a pseudo-header, which makes the upstream's response malformed.
    /// </summary>
    public static bool TryEncodeResponse(HeaderList fields, int status, out byte[] block, out int length)
    {
        block = ArrayPool<byte>.Shared.Rent(MaxBlockLength(fields));
        length = status == 0 ? 0 : HpackEncoder.WriteStatus(status, block);
        for (var i = 0; i < fields.Count; i++)
        {
            var name = fields.Name(i);
            var value = fields.Value(i);
            var pseudo = name.Length > 0 && name[0] == (byte)':';
            if (!IsValidField(name, value) || (pseudo && (status == 0 || !name.SequenceEqual(":status"u8))))
            {
                ArrayPool<byte>.Shared.Return(block);
                length = 0;
                return false;
            }

            if (!pseudo)
            {
                length += HpackEncoder.WriteLiteral(name, value, block.AsSpan(length));
            }
        }

        return true;
    }

    /// <summary>The head of an answer of the proxy's own: the status, and a plain-text body's type and length when there is one.</summary>
    public static int EncodeLocalReply(int status, int bodyLength, Span<byte> destination)
    {
        var n = HpackEncoder.WriteStatus(status, destination);
        if (bodyLength > 0)
        {
            n += HpackEncoder.WriteLiteral(StaticTable.ContentType, "text/plain"u8, destination[n..]);
        }

        Span<byte> digits = stackalloc byte[11];
        bodyLength.TryFormat(digits, out var written);
        n += HpackEncoder.WriteLiteral(StaticTable.ContentLength, digits[..written], destination[n..]);
        return n;
    }
}
