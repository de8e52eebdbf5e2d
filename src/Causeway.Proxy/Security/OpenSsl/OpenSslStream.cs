using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// One side of a mesh TLS connection, run by OpenSSL over memory buffers: ciphertext comes from and goes to the
/// connection's transport pipe, plaintext is this stream. One reader and one writer may use it at once (HTTP/2 does);
/// the OpenSSL state they share is taken under a lock for the length of each call, never across an await.
/// </summary>
public abstract class OpenSslStream : Stream
{
    private readonly IDuplexPipe _transport;
    private readonly Lock _lock = new();
    private readonly nint _readBio;
    private readonly nint _writeBio;
    private readonly bool _sendsAtWrite;
    private nint _ssl;
    private bool _handshaken;
    private bool _closeNotifyQueued;

    /// <summary>
    /// A connection of <paramref name="context"/> over <paramref name="transport"/>; nothing is read until
    /// <see cref="HandshakeAsync"/>. A write is sent at once when <paramref name="sendsAtWrite"/>, else at the flush.
    /// </summary>
    private protected OpenSslStream(MeshTlsContext context, IDuplexPipe transport, bool sendsAtWrite)
    {
        _transport = transport;
        _sendsAtWrite = sendsAtWrite;
        _ssl = context.NewConnection();
        _readBio = LibSsl.BIO_new(LibSsl.BIO_s_mem());
        _writeBio = LibSsl.BIO_new(LibSsl.BIO_s_mem());
        if (_readBio == 0 || _writeBio == 0)
        {
            LibSsl.SSL_free(_ssl);
            throw new InvalidOperationException(LibSsl.TakeErrors("BIO_new failed"));
        }

        // SSL_free frees both.
        LibSsl.SSL_set_bio(_ssl, _readBio, _writeBio);
    }

    /// <summary>The protocol agreed by ALPN, empty when none was.</summary>
    public ReadOnlyMemory<byte> ApplicationProtocol { get; private set; }

    /// <summary>The TLS version agreed.</summary>
    public SslProtocols Protocol { get; private set; }

    /// <summary>The peer's certificate, which OpenSSL verified against the context's roots.</summary>
    public X509Certificate2? PeerCertificate { get; private set; }

    /// <summary>
    /// The DER encoding of the trust anchor the peer's chain was verified to, encoded when asked: only a trust bundle
    /// replaced during the handshake needs it, so a handshake does not pay for it.
    /// </summary>
    public unsafe byte[]? VerifiedRoot
    {
        get
        {
            lock (_lock)
            {
                ThrowIfFreed();
                var chain = LibSsl.SSL_get0_verified_chain(_ssl);
                var length = chain == 0 ? 0 : LibSsl.OPENSSL_sk_num(chain);
                return length > 0 ? LibSsl.Der(LibSsl.OPENSSL_sk_value(chain, length - 1)) : null;
            }
        }
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>The OpenSSL connection state, for the side to set up before the handshake (under no lock: nothing else has it yet).</summary>
    private protected nint Ssl => _ssl;

    /// <summary>Who the other end is, for error messages: "client" or "server".</summary>
    private protected abstract string Peer { get; }

    /// <summary>Why the side refused its peer's certificate during the handshake, when it did (the handshake's error then).</summary>
    private protected virtual string? Refusal => null;

    /// <summary>Runs the handshake to its end; throws <see cref="AuthenticationException"/> naming what OpenSSL refused.</summary>
    public async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int result, error;
            string? failure = null;
            lock (_lock)
            {
                ThrowIfFreed();
                LibSsl.ERR_clear_error();
                result = LibSsl.SSL_do_handshake(_ssl);
                error = result == 1 ? LibSsl.ErrorNone : LibSsl.SSL_get_error(_ssl, result);
                if (result != 1 && error != LibSsl.ErrorWantRead)
                {
                    failure = HandshakeFailure(error);
                }

                // The alert of a refusal goes out too, so that the peer learns why.
                DrainWriteBio();
            }

            await FlushOutputAsync(cancellationToken);
            if (result == 1)
            {
                ReadHandshakeResults();
                _handshaken = true;
                return;
            }

            if (failure is not null)
            {
                throw new AuthenticationException(failure);
            }

            if (!await FeedAsync(cancellationToken))
            {
                throw new AuthenticationException($"the {Peer} closed the connection during the TLS handshake");
            }
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty ? WaitForDataAsync(cancellationToken) : ReadCoreAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// Encrypts into the transport's output, and sends it when the stream sends at each write; else
    /// <see cref="FlushAsync(CancellationToken)"/> sends, so that a pipe writer's flush of several segments (HTTP/2
    /// frames of many streams) goes out in one send, not one per segment.
    /// </summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Encrypt(buffer.Span);
        return _sendsAtWrite ? FlushOutputAsync(cancellationToken) : ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => FlushOutputAsync(cancellationToken).AsTask();

    public override void Flush() => FlushOutputAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    /// <summary>Sends close_notify, as a TLS peer ending its side of a connection cleanly does; reads may go on. Once only.</summary>
    public async ValueTask ShutdownAsync(CancellationToken cancellationToken)
    {
        QueueCloseNotify();
        await FlushOutputAsync(cancellationToken);
    }

    /// <summary>Puts close_notify into the transport's output without sending it (the next flush does); once only, and only after the handshake.</summary>
    internal void QueueCloseNotify()
    {
        lock (_lock)
        {
            if (_ssl == 0 || !_handshaken || _closeNotifyQueued)
            {
                return;
            }

            _closeNotifyQueued = true;
            LibSsl.ERR_clear_error();
            _ = LibSsl.SSL_shutdown(_ssl);
            LibSsl.ERR_clear_error();
            DrainWriteBio();
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        lock (_lock)
        {
            if (_ssl != 0)
            {
                LibSsl.SSL_free(_ssl);
                _ssl = 0;
            }
        }

        base.Dispose(disposing);
    }

    private void Encrypt(ReadOnlySpan<byte> plaintext)
    {
        if (!_handshaken)
        {
            throw new InvalidOperationException("write before the TLS handshake");
        }

        lock (_lock)
        {
            ThrowIfFreed();
            while (!plaintext.IsEmpty)
            {
                LibSsl.ERR_clear_error();
                var written = SslWrite(plaintext);
                if (written <= 0)
                {
                    throw new IOException(LibSsl.TakeErrors($"TLS write failed (SSL_get_error {LibSsl.SSL_get_error(_ssl, written)})"));
                }

                plaintext = plaintext[written..];
            }

            DrainWriteBio();
        }
    }

    private async ValueTask<int> ReadCoreAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            int read, error;
            lock (_lock)
            {
                ThrowIfFreed();
                LibSsl.ERR_clear_error();
                read = SslRead(buffer.Span);
                error = read > 0 ? LibSsl.ErrorNone : LibSsl.SSL_get_error(_ssl, read);
                if (read <= 0 && error is not (LibSsl.ErrorWantRead or LibSsl.ErrorZeroReturn))
                {
                    throw new IOException(LibSsl.TakeErrors($"TLS read failed (SSL_get_error {error})"));
                }
            }

            if (read > 0)
            {
                return read;
            }

            // close_notify, or the peer's FIN below without one: both end the stream, as SslStream's reads do.
            if (error == LibSsl.ErrorZeroReturn || !await FeedAsync(cancellationToken))
            {
                return 0;
            }
        }
    }

    /// <summary>
    /// A zero-byte read: completes once there may be plaintext to read, holding no buffer while it waits (what Kestrel's
    /// pipe readers ask of a TLS stream, as they do of SslStream).
    /// </summary>
    private async ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfFreed();
            if (LibSsl.SSL_pending(_ssl) > 0 || LibSsl.BIO_ctrl(_readBio, LibSsl.CtrlPending, 0, 0) > 0)
            {
                return 0;
            }
        }

        await FeedAsync(cancellationToken);
        return 0;
    }

    /// <summary>Moves what the transport has received into OpenSSL's read buffer; false at the end of the transport's input.</summary>
    private async ValueTask<bool> FeedAsync(CancellationToken cancellationToken)
    {
        var input = _transport.Input;
        var result = await input.ReadAsync(cancellationToken);
        var received = result.Buffer;
        if (received.IsEmpty)
        {
            input.AdvanceTo(received.End);
            return !result.IsCompleted && !result.IsCanceled;
        }

        lock (_lock)
        {
            ThrowIfFreed();
            foreach (var segment in received)
            {
                WriteReadBio(segment.Span);
            }
        }

        input.AdvanceTo(received.End);
        return true;
    }

    private unsafe int SslRead(Span<byte> buffer)
    {
        fixed (byte* b = buffer)
        {
            return LibSsl.SSL_read(_ssl, b, buffer.Length);
        }
    }

    private unsafe int SslWrite(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* b = buffer)
        {
            return LibSsl.SSL_write(_ssl, b, buffer.Length);
        }
    }

    private unsafe void WriteReadBio(ReadOnlySpan<byte> ciphertext)
    {
        fixed (byte* c = ciphertext)
        {
            // A memory BIO grows to take everything written to it, so only a failed allocation writes less.
            if (LibSsl.BIO_write(_readBio, c, ciphertext.Length) != ciphertext.Length)
            {
                throw new IOException(LibSsl.TakeErrors("TLS input could not be buffered"));
            }
        }
    }

    /// <summary>Moves the records OpenSSL has written into the transport's output (under the lock; flushed after it).</summary>
    private unsafe void DrainWriteBio()
    {
        var output = _transport.Output;
        for (var pending = (int)LibSsl.BIO_ctrl(_writeBio, LibSsl.CtrlPending, 0, 0); pending > 0; pending = (int)LibSsl.BIO_ctrl(_writeBio, LibSsl.CtrlPending, 0, 0))
        {
            var span = output.GetSpan(pending);
            int moved;
            fixed (byte* s = span)
            {
                moved = LibSsl.BIO_read(_writeBio, s, Math.Min(pending, span.Length));
            }

            if (moved <= 0)
            {
                break;
            }

            output.Advance(moved);
        }
    }

    private async ValueTask FlushOutputAsync(CancellationToken cancellationToken)
    {
        if (_transport.Output.UnflushedBytes > 0)
        {
            await _transport.Output.FlushAsync(cancellationToken);
        }
    }

    private string HandshakeFailure(int error)
    {
        if (Refusal is { } refusal)
        {
            LibSsl.ERR_clear_error();
            return refusal;
        }

        var verify = LibSsl.SSL_get_verify_result(_ssl);
        var reason = LibSsl.TakeErrors(error == LibSsl.ErrorSyscall ? "the connection failed during the TLS handshake" : $"TLS handshake failed (SSL_get_error {error})");
        return verify == 0 ? reason : $"{reason}: the {Peer}'s certificate: {Marshal.PtrToStringUTF8(LibSsl.X509_verify_cert_error_string(verify))}";
    }

    /// <summary>Reads what the side reports of its handshake, once it is done (under the lock).</summary>
    private protected virtual void OnHandshaken()
    {
    }

    private unsafe void ReadHandshakeResults()
    {
        lock (_lock)
        {
            ThrowIfFreed();
            OnHandshaken();
            byte* alpn;
            uint alpnLength;
            LibSsl.SSL_get0_alpn_selected(_ssl, &alpn, &alpnLength);
            ApplicationProtocol = alpnLength == 0 ? ReadOnlyMemory<byte>.Empty : MeshTlsContext.Agreed(new ReadOnlySpan<byte>(alpn, (int)alpnLength));
#pragma warning disable CA5397 // what the handshake agreed, reported; the context's minimum (TLS 1.2) is what chooses.
            Protocol = LibSsl.SSL_version(_ssl) == LibSsl.Tls13Version ? SslProtocols.Tls13 : SslProtocols.Tls12;
#pragma warning restore CA5397
            var peer = LibSsl.SSL_get0_peer_certificate(_ssl);
            // Up-referenced, not parsed again: on OpenSSL 3.0 a parse decodes the public key through its slow decoders.
            PeerCertificate = peer == 0 ? null : new X509Certificate2(peer);
        }
    }

    private void ThrowIfFreed() => ObjectDisposedException.ThrowIf(_ssl == 0, this);
}
