using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Causeway.Proxy.Transport;

/// <summary>
/// A <see cref="Stream"/> over a <see cref="ReadinessSocket"/>, for what reads and writes streams (the direct path's
/// upstream connections, and <see cref="System.Net.Security.SslStream"/> over them). Socket errors surface as
/// <see cref="IOException"/>, as from a <see cref="NetworkStream"/>. It owns the socket.
/// </summary>
public sealed class ReadinessStream(ReadinessSocket socket) : Stream
{
    public ReadinessSocket Socket { get; } = socket;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var reading = Socket.ReceiveAsync(buffer);
        return reading.IsCompletedSuccessfully ? reading : Await(reading, Socket, cancellationToken);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        static async ValueTask<int> Await(ValueTask<int> reading, ReadinessSocket socket, CancellationToken cancellationToken)
        {
            try
            {
                using (CancelBy(socket, cancellationToken))
                {
                    return await reading;
                }
            }
            catch (SocketException e)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw new IOException($"Unable to read data from the transport connection: {e.Message}", e);
            }
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var writing = Socket.SendAsync(buffer);
        return writing.IsCompletedSuccessfully ? default : Await(writing, Socket, cancellationToken);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        static async ValueTask Await(ValueTask writing, ReadinessSocket socket, CancellationToken cancellationToken)
        {
            try
            {
                using (CancelBy(socket, cancellationToken))
                {
                    await writing;
                }
            }
            catch (SocketException e)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw new IOException($"Unable to write data to the transport connection: {e.Message}", e);
            }
        }
    }

    /// <summary>A cancelled read or write closes the connection, as nothing could be read or written on it in order after.</summary>
    private static CancellationTokenRegistration CancelBy(ReadinessSocket socket, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static s => ((ReadinessSocket)s!).Dispose(), socket) : default;

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Socket.Dispose();
        }

        base.Dispose(disposing);
    }
}
