using System.Buffers;
using System.Text;

namespace Causeway.Proxy.Outbound;

/// <summary>What <see cref="ConnectRequestHead.TryParse"/> made of the bytes so far.</summary>
public enum ConnectHeadStatus
{
    /// <summary>A whole, valid CONNECT head: its authority and length are set.</summary>
    Complete,

    /// <summary>No end of head yet, and not too long: wait for more bytes.</summary>
    Incomplete,

    /// <summary>Not a valid CONNECT head, or longer than allowed: answer 400.</summary>
    Malformed,
}

/// <summary>
/// Reads the head of an explicit-proxy CONNECT request (RFC 9110 §9.3.6) on the outbound port, strictly: the request
/// line <c>CONNECT authority HTTP/1.x</c> with single spaces, header lines of a token, a colon and a value, CRLF line
/// ends only, no control characters. It is Causeway's one HTTP head parser of its own (Kestrel parses every other),
/// so it is fuzzed against Kestrel's (fuzz target connecthead).
/// </summary>
public static class ConnectRequestHead
{
    private static readonly SearchValues<char> HostChars = SearchValues.Create("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    private static readonly SearchValues<char> Ipv6Chars = SearchValues.Create(":.0123456789ABCDEFabcdef");
    private static readonly SearchValues<byte> TokenBytes = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>Parses the head at the start of <paramref name="buffer"/>; <paramref name="length"/> counts its final empty line.</summary>
    public static ConnectHeadStatus TryParse(ReadOnlySequence<byte> buffer, int maxBytes, out string authority, out long length)
    {
        authority = "";
        length = 0;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> before, "\r\n\r\n"u8, advancePastDelimiter: true))
        {
            return buffer.Length > maxBytes ? ConnectHeadStatus.Malformed : ConnectHeadStatus.Incomplete;
        }

        if (before.Length + 4 > maxBytes)
        {
            return ConnectHeadStatus.Malformed;
        }

        var head = Encoding.Latin1.GetString(before);
        var lines = head.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[0] != "CONNECT" || requestLine[2] is not ("HTTP/1.1" or "HTTP/1.0") || !IsAuthority(requestLine[1]))
        {
            return ConnectHeadStatus.Malformed;
        }

        for (var i = 1; i < lines.Length; i++)
        {
            var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !IsToken(lines[i].AsSpan(0, colon)) || !IsFieldValue(lines[i].AsSpan(colon + 1)))
            {
                return ConnectHeadStatus.Malformed;
            }
        }

        authority = requestLine[1];
        length = reader.Consumed;
        return ConnectHeadStatus.Complete;
    }

    /// <summary>
    /// host:port, where host is a DNS name or IPv4 address (letters, digits, '-', '.', '_', '~') or a bracketed IPv6
    /// address, and port 1 to 5 digits: RFC 9110's authority-form, without percent-encoding or sub-delimiters, which
    /// no mesh service name needs and Kestrel refuses (found by fuzzing against it).
    /// </summary>
    private static bool IsAuthority(string authority)
    {
        var colon = authority.LastIndexOf(':');
        if (colon <= 0 || colon == authority.Length - 1 || authority.Length - colon - 1 > 5 || authority.AsSpan(colon + 1).ContainsAnyExceptInRange('0', '9'))
        {
            return false;
        }

        var host = authority.AsSpan(0, colon);
        if (host[0] == '[')
        {
            return host.Length > 2 && host[^1] == ']' && host[1..^1].IndexOfAnyExcept(Ipv6Chars) < 0;
        }

        return host.IndexOfAnyExcept(HostChars) < 0;
    }

    private static bool IsToken(ReadOnlySpan<char> name)
    {
        foreach (var c in name)
        {
            if (c > 0x7f || !TokenBytes.Contains((byte)c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Visible characters, spaces and tabs (obs-text allowed), nothing else: no CR, LF, NUL or other control.</summary>
    private static bool IsFieldValue(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
            {
                return false;
            }
        }

        return true;
    }
}
