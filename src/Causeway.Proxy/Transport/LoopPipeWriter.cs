using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Causeway.Proxy.Transport;

/// <summary>
/// The output of a <see cref="LoopConnection"/>: a flush sends what was written straight to its
/// <see cref="ReadinessSocket"/>, usually at once, instead of handing it through a <see cref="Pipe"/> to a send loop. A
/// flush the socket cannot take at once leaves its bytes in their buffer until sent and gives the writer another, so
/// the application may write on (as into a pipe) while it waits. Buffers go back to the pool once sent.
/// </summary>
internal sealed class LoopPipeWriter(LoopConnection connection, ReadinessSocket socket, LoopTransportOptions options) : PipeWriter
{
    private const int MinBufferBytes = 4096;

    private byte[] _buffer = [];
    private int _written;
    private int _completed;
    private int _pending;
    private int _closing;
    private volatile bool _failed;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _written;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureRoom(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureRoom(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public override void Advance(int bytes)
    {
        if ((uint)bytes > (uint)(_buffer.Length - _written))
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), "Advanced past the memory handed out.");
        }

        _written += bytes;
    }

    private void EnsureRoom(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_completed != 0, this);
        var needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - _written >= needed)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(MinBufferBytes, Math.Max(_written + needed, _buffer.Length * 2)));
        Buffer.BlockCopy(_buffer, 0, larger, 0, _written);
        Return(_buffer);
        _buffer = larger;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _pending) != 0)
        {
            throw new InvalidOperationException("A flush is already in progress: flushes of one connection must not overlap.");
        }

        if (_failed)
        {
            _written = 0;
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        }

        if (_written == 0)
        {
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: false));
        }

        var (sent, count) = (_buffer, _written);
        var sending = socket.SendAsync(sent.AsMemory(0, count));
        if (sending.IsCompletedSuccessfully)
        {
            // Sent: an idle keep-alive connection holds no buffer.
            Discard();
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: false));
        }

        // The socket is full (or the send failed): these bytes stay where they are until sent; the writer gets a new buffer.
        (_buffer, _written) = ([], 0);
        Interlocked.Exchange(ref _pending, 1);
        return AwaitSendAsync(sending, sent);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> AwaitSendAsync(ValueTask sending, byte[] sent)
    {
        try
        {
            await sending;
            if (!options.InlineScheduling)
            {
                await Task.Yield();
            }

            return new FlushResult(isCanceled: false, isCompleted: false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            _failed = true;
            connection.SendFailed(e);
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sent);
            Interlocked.Exchange(ref _pending, 0);
            if (Volatile.Read(ref _completed) != 0)
            {
                Close();
            }
        }
    }

    public override void CancelPendingFlush()
    {
        // A send the kernel has not taken cannot be called back; the connection's abort, which comes with this, closes
        // the socket and so ends it.
    }

    public override void Complete(Exception? exception = null)
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0 && Volatile.Read(ref _pending) == 0)
        {
            Close();
        }
    }

    /// <summary>Once, when the writer is complete and no send is waiting.</summary>
    private void Close()
    {
        if (Interlocked.Exchange(ref _closing, 1) == 0)
        {
            _ = CloseAsync();
        }
    }

    /// <summary>What was written and not flushed is sent first, as a pipe's reader would still read it; then the connection shuts down.</summary>
    private async Task CloseAsync()
    {
        try
        {
            if (_written > 0 && !_failed)
            {
                await socket.SendAsync(_buffer.AsMemory(0, _written));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            connection.SendFailed(e);
        }
        finally
        {
            Discard();
            connection.OutputCompleted();
        }
    }

    private void Discard()
    {
        Return(_buffer);
        (_buffer, _written) = ([], 0);
    }

    private static void Return(byte[] buffer)
    {
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
