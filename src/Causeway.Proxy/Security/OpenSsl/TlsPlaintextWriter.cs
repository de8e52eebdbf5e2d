using System.IO.Pipelines;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// The plaintext writer of a TLS connection: completed cleanly, it sends close_notify, as completing a TCP connection's
/// writer sends FIN, so that an application's FIN spliced into it reaches the peer as TLS's half-close while the peer's
/// bytes may still arrive. A completion with an error sends none, so that a cut stream does not look whole; the first
/// completion decides, as a pipe's does, so a clean one after it (the connection's own clean-up) sends none either.
/// Sending stops waiting when <paramref name="closed"/> fires.
/// </summary>
internal sealed class TlsPlaintextWriter(PipeWriter inner, OpenSslStream tls, CancellationToken closed) : PipeWriter
{
    private int _completed;

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => inner.WriteAsync(source, cancellationToken);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    /// <summary>Completes, and queues close_notify for the connection's next flush (a synchronous caller is not kept waiting on the network).</summary>
    public override void Complete(Exception? exception = null)
    {
        inner.Complete(exception);
        if (Interlocked.Exchange(ref _completed, 1) == 0 && exception is null)
        {
            tls.QueueCloseNotify();
        }
    }

    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        await inner.CompleteAsync(exception);
        if (Interlocked.Exchange(ref _completed, 1) == 0 && exception is null)
        {
            await tls.ShutdownAsync(closed);
        }
    }
}
