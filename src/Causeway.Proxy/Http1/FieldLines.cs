namespace Causeway.Proxy.Http1;

/// <summary>
/// The field lines of an HTTP/1.1 head its parser accepted, in order, for the writers that pass a head on (as HTTP/1.1
/// or as an HPACK block): each line is split only as far as its writer asks, since the parser has checked it already.
/// </summary>
internal ref struct FieldLines
{
    private readonly ReadOnlySpan<byte> _head;
    private readonly int _end;
    private int _next;

    /// <param name="head">The head's bytes, from its start line.</param>
    /// <param name="length">The head's length, its blank line included.</param>
    public FieldLines(ReadOnlySpan<byte> head, int length)
    {
        _head = head;
        _end = length - 2;
        _next = head.IndexOf("\r\n"u8) + 2;
    }

    public FieldLine Current { get; private set; }

    public readonly FieldLines GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_next >= _end)
        {
            return false;
        }

        var rest = _head[_next..];
        var length = rest.IndexOf("\r\n"u8) + 2;
        Current = new FieldLine(rest[..length]);
        _next += length;
        return true;
    }
}
