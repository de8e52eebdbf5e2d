namespace Causeway.Proxy.Http2;

/// <summary>Where a request's pseudo-headers and framing fields are in its <see cref="Hpack.HeaderList"/> (-1: absent).</summary>
internal struct Http2RequestHead
{
    public int Method;
    public int Scheme;
    public int Path;
    public int Authority;
    public int Host;

    /// <summary>A slot for a pseudo-header the protocol does not define: its presence makes the request malformed.</summary>
    public int Unknown;

    /// <summary>The content-length field's value, -1 when there is none.</summary>
    public long ContentLength;

    public Http2RequestHead() => Method = Scheme = Path = Authority = Host = Unknown = (int)(ContentLength = -1);

    /// <summary>:authority, else Host (RFC 9113, section 8.3.1).</summary>
    public readonly int AuthorityOrHost => Authority >= 0 ? Authority : Host;
}
