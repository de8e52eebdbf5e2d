using System.Buffers.Text;

namespace Causeway.LoadBench.Load;

/// <summary>
/// Finds where one HTTP/1.1 response ends in bytes read so far (Content-Length or chunked), without allocating:
/// the load generator needs only the status and the end, not the headers' values.
/// </summary>
public static class HttpResponseReader
{
    /// <summary>The length of the first whole response in <paramref name="data"/> and its status, or 0 if more bytes are needed; -1 if it is not HTTP.</summary>
    public static int TryRead(ReadOnlySpan<byte> data, out int status)
    {
        status = 0;
        var headEnd = data.IndexOf("\r\n\r\n"u8);
        if (headEnd < 0)
        {
            return data.Length > 64 * 1024 ? -1 : 0;
        }

        var head = data[..headEnd];
        if (head.Length < 12 || !head.StartsWith("HTTP/1.1 "u8) || !Utf8Parser.TryParse(head.Slice(9, 3), out status, out var digits) || digits != 3)
        {
            return -1;
        }

        var bodyStart = headEnd + 4;
        long contentLength = -1;
        var chunked = false;
        var rest = head;
        while (true)
        {
            var eol = rest.IndexOf("\r\n"u8);
            if (eol < 0)
            {
                break;
            }

            rest = rest[(eol + 2)..];
            var line = rest.IndexOf("\r\n"u8) is var next and >= 0 ? rest[..next] : rest;
            if (HasName(line, "content-length:"u8))
            {
                if (!Utf8Parser.TryParse(line["content-length:".Length..].Trim((byte)' '), out contentLength, out _))
                {
                    return -1;
                }
            }
            else if (HasName(line, "transfer-encoding:"u8) && line.IndexOf("chunked"u8) >= 0)
            {
                chunked = true;
            }
        }

        if (!chunked)
        {
            // 204, 304 and 1xx have no body; anything else without a length would end at close, which a keep-alive load never wants.
            var length = contentLength >= 0 ? contentLength : status is 204 or 304 ? 0 : -1;
            if (length < 0)
            {
                return -1;
            }

            return data.Length - bodyStart >= length ? bodyStart + (int)length : 0;
        }

        var position = bodyStart;
        while (true)
        {
            var sizeEnd = data[position..].IndexOf("\r\n"u8);
            if (sizeEnd < 0)
            {
                return 0;
            }

            var sizeText = data.Slice(position, sizeEnd);
            var semicolon = sizeText.IndexOf((byte)';');
            if (!Utf8Parser.TryParse(semicolon >= 0 ? sizeText[..semicolon] : sizeText, out int size, out _, 'x'))
            {
                return -1;
            }

            position += sizeEnd + 2;
            if (size == 0)
            {
                // No trailers expected: the last chunk is followed by an empty line.
                return data.Length - position >= 2 ? position + 2 : 0;
            }

            if (data.Length - position < size + 2)
            {
                return 0;
            }

            position += size + 2;
        }
    }

    private static bool HasName(ReadOnlySpan<byte> line, ReadOnlySpan<byte> lowerName)
    {
        if (line.Length < lowerName.Length)
        {
            return false;
        }

        for (var i = 0; i < lowerName.Length; i++)
        {
            var c = line[i];
            if ((c is >= (byte)'A' and <= (byte)'Z' ? (byte)(c | 0x20) : c) != lowerName[i])
            {
                return false;
            }
        }

        return true;
    }
}
