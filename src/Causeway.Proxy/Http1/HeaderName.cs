using System.Buffers;
using System.Text;

namespace Causeway.Proxy.Http1;

/// <summary>The header fields the direct HTTP/1.1 path treats specially; every other field is copied as it came.</summary>
public enum HeaderName
{
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    KeepAlive,
    ProxyConnection,
    Te,
    Trailer,
    Upgrade,
    Expect,
    Http2Settings,
    ProxyAuthorization,
    ForwardedClientCert,
}

/// <summary>RFC 9110's character classes for field names and values, and the names of <see cref="HeaderName"/>.</summary>
public static class HeaderNames
{
    /// <summary>tchar: the bytes a field name (and a method) may hold.</summary>
    public static readonly SearchValues<byte> Token = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>The bytes a field value may not hold: controls other than HTAB (so CR, LF and NUL among them) and DEL.</summary>
    public static readonly SearchValues<byte> NotInValue = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\n\u000b\u000c\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u007f"u8);

    /// <summary>Which of the special names <paramref name="name"/> is, ignoring case.</summary>
    public static HeaderName Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when Ascii.EqualsIgnoreCase(name, "te"u8) => HeaderName.Te,
        4 when Ascii.EqualsIgnoreCase(name, "host"u8) => HeaderName.Host,
        6 when Ascii.EqualsIgnoreCase(name, "expect"u8) => HeaderName.Expect,
        7 when Ascii.EqualsIgnoreCase(name, "upgrade"u8) => HeaderName.Upgrade,
        7 when Ascii.EqualsIgnoreCase(name, "trailer"u8) => HeaderName.Trailer,
        10 when Ascii.EqualsIgnoreCase(name, "connection"u8) => HeaderName.Connection,
        10 when Ascii.EqualsIgnoreCase(name, "keep-alive"u8) => HeaderName.KeepAlive,
        14 when Ascii.EqualsIgnoreCase(name, "content-length"u8) => HeaderName.ContentLength,
        14 when Ascii.EqualsIgnoreCase(name, "http2-settings"u8) => HeaderName.Http2Settings,
        16 when Ascii.EqualsIgnoreCase(name, "proxy-connection"u8) => HeaderName.ProxyConnection,
        17 when Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8) => HeaderName.TransferEncoding,
        19 when Ascii.EqualsIgnoreCase(name, "proxy-authorization"u8) => HeaderName.ProxyAuthorization,
        23 when Ascii.EqualsIgnoreCase(name, "x-forwarded-client-cert"u8) => HeaderName.ForwardedClientCert,
        _ => HeaderName.Other,
    };

    /// <summary>
    /// Splits a header line (without its CRLF) into a token name and a value without surrounding whitespace; false when
    /// the line breaks RFC 9112 (no colon, whitespace before it, an obs-fold, a control character).
    /// </summary>
    public static bool TrySplit(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, out Range value)
    {
        value = default;
        var colon = line.IndexOf((byte)':');
        name = colon > 0 ? line[..colon] : default;
        if (colon <= 0 || name.IndexOfAnyExcept(Token) >= 0)
        {
            return false;
        }

        var (start, end) = (colon + 1, line.Length);
        while (start < end && line[start] is (byte)' ' or (byte)'\t')
        {
            start++;
        }

        while (end > start && line[end - 1] is (byte)' ' or (byte)'\t')
        {
            end--;
        }

        value = start..end;
        return line[value].IndexOfAny(NotInValue) < 0;
    }

    /// <summary>A Content-Length value: 1 to 15 digits and nothing else; -1 otherwise.</summary>
    public static long ParseLength(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value.Length > 15)
        {
            return -1;
        }

        long n = 0;
        foreach (var b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return -1;
            }

            n = (n * 10) + (b - '0');
        }

        return n;
    }

    /// <summary>
    /// Reads a Connection value: whether it holds "close", and whether every element is "close" or "keep-alive" (any other
    /// element names a hop-by-hop header or an upgrade, which the direct path leaves to Kestrel).
    /// </summary>
    public static bool ReadConnection(ReadOnlySpan<byte> value, out bool close)
    {
        close = false;
        var plain = true;
        foreach (var range in value.Split((byte)','))
        {
            var token = value[range].Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(token, "close"u8))
            {
                close = true;
            }
            else if (!token.IsEmpty && !Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
            {
                plain = false;
            }
        }

        return plain;
    }

    /// <summary>True when a Transfer-Encoding value's last coding is chunked, which frames the body.</summary>
    public static bool EndsChunked(ReadOnlySpan<byte> value)
    {
        var comma = value.LastIndexOf((byte)',');
        return Ascii.EqualsIgnoreCase(value[(comma + 1)..].Trim(" \t"u8), "chunked"u8);
    }
}
