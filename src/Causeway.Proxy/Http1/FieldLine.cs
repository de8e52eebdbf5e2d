namespace Causeway.Proxy.Http1;

/// <summary>One field line of a head its parser accepted: the line with its CRLF, its name, its value without surrounding whitespace.</summary>
internal readonly ref struct FieldLine
{
    private readonly int _colon;

    public FieldLine(ReadOnlySpan<byte> line)
    {
        Line = line;
        _colon = line.IndexOf((byte)':');
    }

    /// <summary>The whole line, its CRLF included, as it is copied on.</summary>
    public ReadOnlySpan<byte> Line { get; }

    public ReadOnlySpan<byte> Name => Line[.._colon];

    public ReadOnlySpan<byte> Value => Line[(_colon + 1)..^2].Trim(" \t"u8);

    /// <summary>What the proxy makes of the name.</summary>
    public HeaderName Kind => HeaderNames.Classify(Name);
}
