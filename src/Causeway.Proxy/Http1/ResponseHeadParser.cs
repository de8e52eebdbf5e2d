namespace Causeway.Proxy.Http1;

/// <summary>
/// Reads an application's HTTP/1.x response head for the direct path and writes it on for the client: as HTTP/1.1,
/// without the hop-by-hop fields, with <c>Connection: close</c> when the client's connection ends after it. A head
/// that breaks RFC 9112 (bare LF, controls, a malformed or repeated Content-Length, a transfer coding that does not end
/// in chunked) is <see cref="HeadStatus.NotHandled"/>: the client gets a 502 rather than a repaired guess.
/// </summary>
public static class ResponseHeadParser
{
    /// <summary>Parses the head at the start of <paramref name="data"/>.</summary>
    public static HeadStatus TryParse(ReadOnlySpan<byte> data, int maxHeadBytes, out ResponseHead head)
    {
        head = default;
        var end = data.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return data.Length > maxHeadBytes ? HeadStatus.NotHandled : HeadStatus.Incomplete;
        }

        if (end + 4 > maxHeadBytes)
        {
            return HeadStatus.NotHandled;
        }

        var lineEnd = data.IndexOf("\r\n"u8);
        var line = data[..lineEnd];
        var http10 = line.StartsWith("HTTP/1.0 "u8);
        if ((!http10 && !line.StartsWith("HTTP/1.1 "u8)) || line.Length < 12 || line[9..12].IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0 ||
            (line.Length > 12 && (line[12] != (byte)' ' || line[13..].IndexOfAny(HeaderNames.NotInValue) >= 0)))
        {
            return HeadStatus.NotHandled;
        }

        var status = ((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0');
        long contentLength = -1;
        var chunked = false;
        var keepAlive = !http10;
        var pos = lineEnd + 2;
        while (pos < end + 2)
        {
            var header = data.Slice(pos, data[pos..].IndexOf("\r\n"u8));
            if (!HeaderNames.TrySplit(header, out var name, out var range))
            {
                return HeadStatus.NotHandled;
            }

            var value = header[range];
            switch (HeaderNames.Classify(name))
            {
                case HeaderName.ContentLength:
                    if (contentLength >= 0 || (contentLength = HeaderNames.ParseLength(value)) < 0)
                    {
                        return HeadStatus.NotHandled;
                    }

                    break;
                case HeaderName.TransferEncoding:
                    if (chunked || !HeaderNames.EndsChunked(value))
                    {
                        return HeadStatus.NotHandled;
                    }

                    chunked = true;
                    break;
                case HeaderName.Connection:
                    HeaderNames.ReadConnection(value, out var close);
                    keepAlive &= !close;
                    break;
            }

            pos += header.Length + 2;
        }

        if (chunked)
        {
            // RFC 9112 6.3: Transfer-Encoding overrides Content-Length, which is then not passed on.
            contentLength = -1;
        }

        head = new ResponseHead(end + 4, status, contentLength, chunked, keepAlive && (chunked || contentLength >= 0 || status is 204 or 304 || (status is >= 100 and < 200)));
        return HeadStatus.Complete;
    }

    /// <summary>The most bytes <see cref="WriteDownstream"/> writes for a head of <paramref name="length"/> bytes.</summary>
    public static int MaxDownstreamLength(int length) => length + ConnectionClose.Length;

    private static ReadOnlySpan<byte> ConnectionClose => "Connection: close\r\n"u8;

    /// <summary>Writes the head for the client; returns the bytes written.</summary>
    public static int WriteDownstream(ReadOnlySpan<byte> data, in ResponseHead head, bool closeClient, Span<byte> destination)
    {
        "HTTP/1.1"u8.CopyTo(destination);
        var lineEnd = data.IndexOf("\r\n"u8);
        data[8..(lineEnd + 2)].CopyTo(destination[8..]);
        var w = lineEnd + 2;
        foreach (var field in new FieldLines(data, head.Length))
        {
            var kind = field.Kind;
            var drop = kind is HeaderName.Connection or HeaderName.KeepAlive or HeaderName.ProxyConnection || (kind == HeaderName.ContentLength && head.Chunked);
            if (!drop)
            {
                field.Line.CopyTo(destination[w..]);
                w += field.Line.Length;
            }
        }

        if (closeClient)
        {
            ConnectionClose.CopyTo(destination[w..]);
            w += ConnectionClose.Length;
        }

        destination[w++] = (byte)'\r';
        destination[w++] = (byte)'\n';
        return w;
    }
}
