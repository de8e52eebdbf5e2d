using System.Buffers;

namespace Causeway.Proxy.Http2;

/// <summary>
/// What one direction of a proxied stream could not send yet (its connection not open, or a window or the socket
/// full): body bytes and header blocks, copied into pooled buffers, in the order they must leave.
/// </summary>
internal sealed class Http2PendingFrames
{
    private readonly Queue<Entry> _entries = new();
    private int _headSent;

    public bool IsEmpty => _entries.Count == 0;

    /// <summary>Body bytes queued, which the sending peer has not been credited for.</summary>
    public int DataBytes { get; private set; }

    /// <summary>
    /// Queues body bytes; <paramref name="credited"/> when the sending peer was already credited for them (a request
    /// sent again after its stream was refused), so that sending them credits nothing and they are not in <see cref="DataBytes"/>.
    /// </summary>
    public void EnqueueData(ReadOnlySpan<byte> data, bool endStream, bool credited = false)
    {
        var buffer = data.Length == 0 ? [] : ArrayPool<byte>.Shared.Rent(data.Length);
        data.CopyTo(buffer);
        _entries.Enqueue(new Entry(buffer, 0, data.Length, false, endStream, credited));
        if (!credited)
        {
            DataBytes += data.Length;
        }
    }

    public void EnqueueHeaders(ReadOnlySpan<byte> block, bool endStream)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(block.Length);
        block.CopyTo(buffer);
        _entries.Enqueue(new Entry(buffer, 0, block.Length, true, endStream));
    }

    /// <summary>The first entry, less what of it was already sent.</summary>
    public Entry Peek()
    {
        var first = _entries.Peek();
        return first with { Offset = first.Offset + _headSent, Length = first.Length - _headSent };
    }

    /// <summary>Marks <paramref name="bytes"/> of the first entry sent; the entry goes when it is all sent.</summary>
    public void Advance(int bytes)
    {
        var first = _entries.Peek();
        if (!first.IsHeaders && !first.Credited)
        {
            DataBytes -= bytes;
        }

        _headSent += bytes;
        if (_headSent < first.Length)
        {
            return;
        }

        _headSent = 0;
        _entries.Dequeue();
        Return(first.Buffer);
    }

    /// <summary>Drops everything queued; the body bytes dropped (to credit back).</summary>
    public int Clear()
    {
        var dropped = DataBytes;
        while (_entries.TryDequeue(out var entry))
        {
            Return(entry.Buffer);
        }

        DataBytes = 0;
        _headSent = 0;
        return dropped;
    }

    private static void Return(byte[] buffer)
    {
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public readonly record struct Entry(byte[] Buffer, int Offset, int Length, bool IsHeaders, bool EndStream, bool Credited = false)
    {
        public ReadOnlySpan<byte> Span => Buffer.AsSpan(Offset, Length);
    }
}
