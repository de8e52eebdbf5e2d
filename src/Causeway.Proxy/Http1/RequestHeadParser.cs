using System.Buffers;
using System.Text;
using Causeway.Proxy.Http;
using Causeway.Proxy.Http2.Hpack;

namespace Causeway.Proxy.Http1;

/// <summary>
/// Reads an HTTP/1.1 request head for the direct path, and writes it on for the upstream. It takes only what is plainly
/// well-formed and needs no repair: a method of capital letters, an origin-form or <c>http://</c> absolute-form target
/// whose path has no percent-encoding, dot segments or empty segments (so the path an authorization policy judges is
/// the path the application gets), HTTP/1.1, one Host, at most one Content-Length and no Transfer-Encoding, Upgrade
/// or Expect. Anything else, malformed or merely unusual, is <see cref="HeadStatus.NotHandled"/> and goes to Kestrel,
/// whose strict parser and the forwarder behind it answer it as before.
/// </summary>
public static class RequestHeadParser
{
    private static readonly SearchValues<byte> PathBytes = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/!$&'()*+,=:@"u8);
    private static readonly SearchValues<byte> AuthorityBytes = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:[]"u8);

    /// <summary>Parses the head at the start of <paramref name="data"/>.</summary>
    public static HeadStatus TryParse(ReadOnlySpan<byte> data, Http1Limits limits, out RequestHead head)
    {
        head = default;
        var end = data.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            // A bare LF would never be followed by CRLFCRLF: leave it to Kestrel's 400 rather than wait for a timeout.
            return data.Length > limits.MaxRequestHeadBytes || HasBareLineFeed(data) ? HeadStatus.NotHandled : HeadStatus.Incomplete;
        }

        var length = end + 4;
        if (length > limits.MaxRequestHeadBytes)
        {
            return HeadStatus.NotHandled;
        }

        var lineEnd = data.IndexOf("\r\n"u8);
        if (!TryParseRequestLine(data[..lineEnd], out var method, out var target, out var authority))
        {
            return HeadStatus.NotHandled;
        }

        long contentLength = -1;
        var close = false;
        Range host = default;
        var hosts = 0;
        var count = 0;
        var pos = lineEnd + 2;
        while (pos < end + 2)
        {
            var next = data[pos..].IndexOf("\r\n"u8);
            var line = data.Slice(pos, next);
            if (++count > limits.MaxRequestHeaders || !HeaderNames.TrySplit(line, out var name, out var valueRange))
            {
                return HeadStatus.NotHandled;
            }

            var value = line[valueRange];

            switch (HeaderNames.Classify(name))
            {
                case HeaderName.Host:
                    host = (pos + valueRange.Start.Value)..(pos + valueRange.End.Value);
                    hosts++;
                    break;
                case HeaderName.ContentLength:
                    if (contentLength >= 0 || (contentLength = HeaderNames.ParseLength(value)) < 0)
                    {
                        return HeadStatus.NotHandled;
                    }

                    break;
                case HeaderName.Connection:
                    if (!HeaderNames.ReadConnection(value, out var closeHere))
                    {
                        return HeadStatus.NotHandled;
                    }

                    close |= closeHere;
                    break;
                case HeaderName.TransferEncoding or HeaderName.Upgrade or HeaderName.Expect or HeaderName.Http2Settings:
                    return HeadStatus.NotHandled;
            }

            pos += next + 2;
        }

        // Kestrel refuses an absolute-form target whose authority the Host header contradicts; so does this path, by leaving it to Kestrel.
        if (hosts != 1 || host.GetOffsetAndLength(data.Length).Length == 0 ||
            (!authority.Equals(default(Range)) && !Ascii.EqualsIgnoreCase(data[authority], data[host])))
        {
            return HeadStatus.NotHandled;
        }

        var query = data[target].IndexOf((byte)'?');
        var path = query < 0 ? target : target.Start..(target.Start.Value + query);
        head = new RequestHead(length, Math.Max(0, contentLength), close, method, target, path, host);
        return HeadStatus.Complete;
    }

    /// <summary>
    /// Writes the head for the upstream: origin-form target, the client's fields in their order less the hop-by-hop
    /// ones (and a caller's X-Forwarded-Client-Cert when <paramref name="extra"/> replaces it), then <paramref name="extra"/>.
    /// Returns the bytes written; <paramref name="destination"/> needs <see cref="RequestHead.Length"/> + <paramref name="extra"/>'s length.
    /// </summary>
    public static int WriteUpstream(ReadOnlySpan<byte> data, in RequestHead head, ReadOnlySpan<byte> extra, Span<byte> destination)
    {
        var w = 0;
        w += HeadBytes.Put(data[head.Method], destination[w..]);
        destination[w++] = (byte)' ';
        w += HeadBytes.Put(data[head.PathAndQuery], destination[w..]);
        w += HeadBytes.Put(" HTTP/1.1\r\n"u8, destination[w..]);
        foreach (var field in new FieldLines(data, head.Length))
        {
            var kind = field.Kind;
            var drop = EndsAtThisHop(kind) || kind == HeaderName.Te || (kind == HeaderName.ForwardedClientCert && !extra.IsEmpty);
            if (!drop)
            {
                w += HeadBytes.Put(field.Line, destination[w..]);
            }
        }

        w += HeadBytes.Put(extra, destination[w..]);
        destination[w++] = (byte)'\r';
        destination[w++] = (byte)'\n';
        return w;
    }

    /// <summary>The most bytes <see cref="WriteHttp2"/> writes for a head of <paramref name="headLength"/> bytes.</summary>
    public static int MaxHttp2Length(int headLength) => (headLength * 3) + 64;

    /// <summary>
    /// Writes the head as an HTTP/2 header block for an upgraded mesh hop (HPACK without a dynamic table, as
    /// <see cref="Http2.Hpack.HpackEncoder"/> writes): <c>:method</c>, <c>:scheme</c> http (what the HTTP/1.1 forwarder
    /// says on the hop), <c>:path</c>, <c>:authority</c> from Host, then the client's fields in their order, names in
    /// lowercase, less Host and the hop-by-hop ones (RFC 9113, section 8.2.2; <c>te</c> only as "trailers"). Returns
    /// the bytes written; <paramref name="destination"/> needs <see cref="MaxHttp2Length"/>.
    /// </summary>
    public static int WriteHttp2(ReadOnlySpan<byte> data, in RequestHead head, Span<byte> destination)
    {
        var method = data[head.Method];
        var w = method.SequenceEqual("GET"u8) ? HpackEncoder.WriteIndexed(StaticTable.MethodGet, destination) :
            method.SequenceEqual("POST"u8) ? HpackEncoder.WriteIndexed(StaticTable.MethodPost, destination) :
            HpackEncoder.WriteLiteral(StaticTable.MethodGet, method, destination);
        w += HpackEncoder.WriteIndexed(StaticTable.SchemeHttp, destination[w..]);
        var path = data[head.PathAndQuery];
        w += path.SequenceEqual("/"u8) ? HpackEncoder.WriteIndexed(StaticTable.PathRoot, destination[w..]) :
            HpackEncoder.WriteLiteral(StaticTable.PathRoot, path, destination[w..]);
        w += HpackEncoder.WriteLiteral(StaticTable.Authority, data[head.Host], destination[w..]);
        foreach (var field in new FieldLines(data, head.Length))
        {
            var kind = field.Kind;
            if (kind == HeaderName.Host || EndsAtThisHop(kind) || (kind == HeaderName.Te && !Ascii.EqualsIgnoreCase(field.Value, "trailers"u8)))
            {
                continue;
            }

            w += kind == HeaderName.Te ? HpackEncoder.WriteLiteral("te"u8, "trailers"u8, destination[w..]) : HpackEncoder.WriteLiteralLowercase(field.Name, field.Value, destination[w..]);
        }

        return w;
    }

    /// <summary>
    /// The request fields neither hop passes on: the hop-by-hop ones (RFC 9110, section 7.6.1) and Proxy-Authorization,
    /// which is for this proxy. <c>te</c> is judged by each hop, since HTTP/2 keeps "trailers".
    /// </summary>
    private static bool EndsAtThisHop(HeaderName kind) =>
        kind is HeaderName.Connection or HeaderName.KeepAlive or HeaderName.ProxyConnection or HeaderName.Trailer or HeaderName.ProxyAuthorization;

    /// <summary>METHOD SP target SP HTTP/1.1, with the target's path and query (and authority, for absolute-form) located.</summary>
    private static bool TryParseRequestLine(ReadOnlySpan<byte> line, out Range method, out Range target, out Range authority)
    {
        method = target = authority = default;
        var sp = line.IndexOf((byte)' ');
        if (sp is <= 0 or > 20 || line[..sp].IndexOfAnyExceptInRange((byte)'A', (byte)'Z') >= 0 || line[..sp].SequenceEqual("CONNECT"u8) ||
            !line.EndsWith(" HTTP/1.1"u8) || line.Length - 9 <= sp + 1)
        {
            return false;
        }

        method = 0..sp;
        var start = sp + 1;
        var raw = line[start..^9];
        if (raw.StartsWith("http://"u8))
        {
            var rest = raw[7..];
            var slash = rest.IndexOfAny((byte)'/', (byte)'?');
            var length = slash < 0 ? rest.Length : slash;
            if (length == 0 || rest[..length].IndexOfAnyExcept(AuthorityBytes) >= 0 || slash < 0 || rest[slash] != (byte)'/')
            {
                // No path, or a query straight after the authority, would need a "/" written in: Kestrel does that.
                return false;
            }

            authority = (start + 7)..(start + 7 + length);
            start += 7 + length;
            raw = rest[length..];
        }

        target = start..(start + raw.Length);
        return IsPlainOriginForm(raw);
    }

    /// <summary>"/" then a path with no byte a normaliser would change, then an optional query of visible ASCII without '#'.</summary>
    private static bool IsPlainOriginForm(ReadOnlySpan<byte> target)
    {
        if (target.IsEmpty || target[0] != (byte)'/')
        {
            return false;
        }

        var q = target.IndexOf((byte)'?');
        var path = q < 0 ? target : target[..q];
        if (path.IndexOfAnyExcept(PathBytes) >= 0 || path.IndexOf("//"u8) >= 0)
        {
            return false;
        }

        for (var i = path.IndexOf("/."u8); i >= 0; i = NextDotSegment(path, i))
        {
            var after = path[(i + 2)..];
            if (after.IsEmpty || after[0] == (byte)'/' || (after[0] == (byte)'.' && (after.Length == 1 || after[1] == (byte)'/')))
            {
                return false;
            }
        }

        return q < 0 || (target[q..].IndexOfAnyExceptInRange((byte)0x21, (byte)0x7e) < 0 && target[q..].IndexOf((byte)'#') < 0);
    }

    private static int NextDotSegment(ReadOnlySpan<byte> path, int from)
    {
        var i = path[(from + 1)..].IndexOf("/."u8);
        return i < 0 ? -1 : from + 1 + i;
    }

    private static bool HasBareLineFeed(ReadOnlySpan<byte> data)
    {
        for (var i = data.IndexOf((byte)'\n'); i >= 0; i = data[(i + 1)..].IndexOf((byte)'\n') is var n and >= 0 ? i + 1 + n : -1)
        {
            if (i == 0 || data[i - 1] != (byte)'\r')
            {
                return true;
            }
        }

        return false;
    }
}
