namespace Causeway.Proxy.Tests.Security;

/// <summary>A transport under a test's SslStream: keeps every byte it reads (the peer's records), and can hold its own writes after a number of them until released.</summary>
internal sealed class HeldWire(Stream inner) : Stream
{
    private readonly MemoryStream _received = new();
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _writes;

    /// <summary>Writes after this many wait for <see cref="Release"/>.</summary>
    public int HoldWritesAfter { get; init; } = int.MaxValue;

    /// <summary>Completes when a write is being held.</summary>
    public Task Holding => _holding.Task;

    public byte[] Received => _received.ToArray();

    /// <summary>The content type of the last whole TLS record read (on TLS 1.2 an alert shows as one; TLS 1.3 hides it).</summary>
    public TlsRecordType LastRecordType
    {
        get
        {
            var received = Received;
            var last = (TlsRecordType)0;
            for (var at = 0; at + 5 <= received.Length; at += 5 + (received[at + 3] << 8 | received[at + 4]))
            {
                last = (TlsRecordType)received[at];
            }

            return last;
        }
    }

    public void Release() => _released.TrySetResult();

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        _received.Write(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (++_writes > HoldWritesAfter)
        {
            _holding.TrySetResult();
            await _released.Task.WaitAsync(cancellationToken);
        }

        await inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The content types of TLS records (RFC 8446, 5.1).</summary>
public enum TlsRecordType : byte
{
    Alert = 21,
    Handshake = 22,
    ApplicationData = 23,
}
