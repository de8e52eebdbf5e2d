using System.Text;

namespace Causeway.Proxy.Http2.Hpack;

/// <summary>HPACK's static table (RFC 7541, Appendix A), indices 1 to 61, and the indices the proxy encodes with.</summary>
public static class StaticTable
{
    public const int Count = 61;
    public const int Authority = 1;
    public const int MethodGet = 2;
    public const int MethodPost = 3;
    public const int PathRoot = 4;
    public const int SchemeHttp = 6;
    public const int SchemeHttps = 7;
    public const int Status200 = 8;
    public const int ContentLength = 28;
    public const int ContentType = 31;
    public const int UserAgent = 58;

    private static readonly (byte[] Name, byte[] Value)[] Entries = Build(
    [
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
        (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
        (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
        ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
        ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
        ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""), ("date", ""), ("etag", ""),
        ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""), ("if-modified-since", ""),
        ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""),
        ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""), ("range", ""),
        ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""), ("set-cookie", ""),
        ("strict-transport-security", ""), ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""), ("via", ""),
        ("www-authenticate", ""),
    ]);

    private static (byte[], byte[])[] Build((string Name, string Value)[] entries)
    {
        var built = new (byte[], byte[])[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            built[i] = (Encoding.ASCII.GetBytes(entries[i].Name), Encoding.ASCII.GetBytes(entries[i].Value));
        }

        return built;
    }

    public static ReadOnlySpan<byte> Name(int index) => Entries[index - 1].Name;

    public static ReadOnlySpan<byte> Value(int index) => Entries[index - 1].Value;

    /// <summary>The index of an <c>:status</c> the table holds with its value, or 0.</summary>
    public static int OfStatus(int status) => status switch
    {
        200 => 8,
        204 => 9,
        206 => 10,
        304 => 11,
        400 => 12,
        404 => 13,
        500 => 14,
        _ => 0,
    };
}
