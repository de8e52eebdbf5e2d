namespace Causeway.Proxy.Http1;

/// <summary>
/// Follows a chunked body (RFC 9112 section 7.1) as its bytes pass through unchanged, to find where it ends: chunk
/// sizes, extensions, data, the last chunk and the trailer section. A malformed body is an error, not a guess.
/// </summary>
public struct ChunkedBodyScanner
{
    /// <summary>The longest chunk-size line, extensions included, and the longest trailer line.</summary>
    public const int MaxLineBytes = 4096;

    private State _state;
    private long _remaining;
    private int _line;

    private enum State
    {
        Size,
        Extension,
        SizeLf,
        Data,
        DataCr,
        DataLf,
        TrailerStart,
        Trailer,
        TrailerLf,
        FinalLf,
        Done,
    }

    /// <summary>True once the last chunk and the trailer section have passed.</summary>
    public readonly bool IsDone => _state == State.Done;

    /// <summary>
    /// Takes bytes of the body in order; returns how many of them belong to it (fewer than given only when it ended
    /// within them), or -1 when they break the chunked framing.
    /// </summary>
    public int Scan(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length && _state != State.Done)
        {
            if (_state == State.Data)
            {
                var take = (int)Math.Min(_remaining, data.Length - i);
                i += take;
                _remaining -= take;
                if (_remaining == 0)
                {
                    _state = State.DataCr;
                }

                continue;
            }

            var b = data[i++];
            if (++_line > MaxLineBytes)
            {
                return -1;
            }

            switch (_state)
            {
                case State.Size:
                    var digit = HexValue(b);
                    if (digit >= 0 && _line <= 15)
                    {
                        _remaining = (_remaining << 4) | (uint)digit;
                    }
                    else if (_line > 1 && (b == (byte)';' || b == (byte)' ' || b == (byte)'\t'))
                    {
                        _state = State.Extension;
                    }
                    else if (_line > 1 && b == (byte)'\r')
                    {
                        _state = State.SizeLf;
                    }
                    else
                    {
                        return -1;
                    }

                    break;
                case State.Extension or State.Trailer:
                    // Extensions and trailer fields are passed on unread; only their line ends matter.
                    if (b == (byte)'\r')
                    {
                        _state = _state == State.Extension ? State.SizeLf : State.TrailerLf;
                    }
                    else if (b == (byte)'\n' || (b < 0x20 && b != (byte)'\t') || b == 0x7f)
                    {
                        return -1;
                    }

                    break;
                case State.DataCr:
                    if (b != (byte)'\r')
                    {
                        return -1;
                    }

                    _state = State.DataLf;
                    break;
                case State.TrailerStart:
                    if (b is (byte)'\n' or (byte)' ' or (byte)'\t' or (byte)':')
                    {
                        return -1;
                    }

                    _state = b == (byte)'\r' ? State.FinalLf : State.Trailer;
                    break;
                case State.SizeLf or State.DataLf or State.TrailerLf or State.FinalLf:
                    // The LF of a CRLF: a size line, a chunk's data, a trailer field or the last line.
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    _line = 0;
                    _state = _state switch
                    {
                        State.SizeLf => _remaining == 0 ? State.TrailerStart : State.Data,
                        State.DataLf => State.Size,
                        State.TrailerLf => State.TrailerStart,
                        _ => State.Done, // FinalLf
                    };
                    break;
            }
        }

        return i;
    }

    /// <summary>
    /// A whole chunk-size line's size (CRLF not included), under the scanner's rules: 1 to 15 hex digits, then
    /// optionally an extension after ';', space or tab, which is ignored; -1 when the line breaks them.
    /// </summary>
    public static long ParseSizeLine(ReadOnlySpan<byte> line)
    {
        long size = 0;
        var digits = 0;
        foreach (var b in line)
        {
            var digit = HexValue(b);
            if (digit < 0)
            {
                return digits > 0 && b is (byte)';' or (byte)' ' or (byte)'\t' ? size : -1;
            }

            if (++digits > 15)
            {
                return -1;
            }

            size = (size << 4) | (uint)digit;
        }

        return digits > 0 ? size : -1;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
