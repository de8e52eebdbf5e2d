using System.Buffers;

namespace Causeway.Proxy.Http2.Hpack;

/// <summary>
/// Decoded header fields of one header block, in order: names and values copied into one pooled buffer, so that a
/// connection decodes every block into the same list without allocating.
/// </summary>
public sealed class HeaderList : IDisposable
{
    private byte[] _bytes = ArrayPool<byte>.Shared.Rent(1024);
    private (int NameStart, int NameLength, int ValueStart, int ValueLength)[] _fields = new (int, int, int, int)[32];
    private int _used;

    public int Count { get; private set; }

    /// <summary>The sum of each field's name and value lengths plus 32: what SETTINGS_MAX_HEADER_LIST_SIZE counts.</summary>
    public int ListSize { get; private set; }

    public ReadOnlySpan<byte> Name(int i) => _bytes.AsSpan(_fields[i].NameStart, _fields[i].NameLength);

    public ReadOnlySpan<byte> Value(int i) => _bytes.AsSpan(_fields[i].ValueStart, _fields[i].ValueLength);

    public void Clear()
    {
        Count = 0;
        ListSize = 0;
        _used = 0;
    }

    public void Add(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        var nameStart = Reserve(name.Length + value.Length);
        name.CopyTo(_bytes.AsSpan(nameStart));
        value.CopyTo(_bytes.AsSpan(nameStart + name.Length));
        AddField(nameStart, name.Length, nameStart + name.Length, value.Length);
    }

    /// <summary>Room for <paramref name="length"/> bytes a decoder writes itself (Huffman strings); its offset.</summary>
    internal int Reserve(int length)
    {
        if (_used + length > _bytes.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_bytes.Length * 2, _used + length));
            _bytes.AsSpan(0, _used).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = larger;
        }

        var start = _used;
        _used += length;
        return start;
    }

    internal Span<byte> Bytes(int start, int length) => _bytes.AsSpan(start, length);

    /// <summary>Gives back the tail of the last reservation that a decoder did not fill.</summary>
    internal void Unreserve(int length) => _used -= length;

    internal void AddField(int nameStart, int nameLength, int valueStart, int valueLength)
    {
        if (Count == _fields.Length)
        {
            Array.Resize(ref _fields, _fields.Length * 2);
        }

        _fields[Count++] = (nameStart, nameLength, valueStart, valueLength);
        ListSize += nameLength + valueLength + 32;
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_bytes);
        _bytes = [];
    }
}
