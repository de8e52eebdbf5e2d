namespace Causeway.Proxy.Http2.Hpack;

/// <summary>
/// A decoder's HPACK dynamic table (RFC 7541, section 2.3.2): entries newest first, each counted as its name and value
/// lengths plus 32, the oldest evicted to stay within the size the decoder's peer last set.
/// </summary>
public sealed class DynamicTable(int maxSize)
{
    private (byte[] Name, byte[] Value)[] _entries = new (byte[], byte[])[16];
    private int _newest;
    private int _count;

    public int Count => _count;

    public int Size { get; private set; }

    public int MaxSize { get; private set; } = maxSize;

    /// <summary>Entry <paramref name="index"/>, 1 the newest.</summary>
    public (byte[] Name, byte[] Value) this[int index] => _entries[(_newest - index + 1 + _entries.Length) % _entries.Length];

    public void Resize(int maxSize)
    {
        MaxSize = maxSize;
        Evict(0);
    }

    public void Insert(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        var size = name.Length + value.Length + 32;
        Evict(size);
        if (size > MaxSize)
        {
            // An entry larger than the table empties it and is not added (section 4.4).
            return;
        }

        if (_count == _entries.Length)
        {
            var larger = new (byte[], byte[])[_entries.Length * 2];
            for (var i = 1; i <= _count; i++)
            {
                larger[_count - i] = this[i];
            }

            _entries = larger;
            _newest = _count - 1;
        }

        _newest = (_newest + 1) % _entries.Length;
        _entries[_newest] = (name.ToArray(), value.ToArray());
        _count++;
        Size += size;
    }

    private void Evict(int room)
    {
        while (_count > 0 && Size + room > MaxSize)
        {
            var (name, value) = this[_count];
            Size -= name.Length + value.Length + 32;
            _entries[(_newest - _count + 1 + _entries.Length) % _entries.Length] = default;
            _count--;
        }
    }
}
