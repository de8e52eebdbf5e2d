using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Proxy.Transport;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// The client side of a mesh connection a sidecar opens (<see cref="OpenSslStream"/>) over a TCP stream it owns: SNI
/// and ALPN set for the connection, every write sent at once, as SslStream's writes are.
/// </summary>
public sealed class OpenSslClientStream : OpenSslStream
{
    private readonly Stream _transport;
    private readonly Func<X509Certificate2, string?>? _judge;
    private GCHandle _self;
    private string? _refusal;

    /// <summary>
    /// A connection of <paramref name="context"/> to <paramref name="sni"/> carrying <paramref name="protocol"/>; nothing
    /// is sent until <see cref="OpenSslStream.HandshakeAsync"/>. <paramref name="judge"/>, when given, judges the
    /// server's certificate once OpenSSL has verified its chain (the reason to refuse it, or null): a refusal ends the
    /// handshake with an alert, so that the server learns of it, as Envoy's secure naming check does.
    /// </summary>
    public OpenSslClientStream(MeshClientContext context, Stream transport, string sni, MeshProtocol protocol, Func<X509Certificate2, string?>? judge = null)
        : base(context, Pipes(transport), sendsAtWrite: true)
    {
        _transport = transport;
        try
        {
            LibSsl.SSL_set_connect_state(Ssl);
            SetServerName(sni);
            SetProtocols(MeshClientContext.Alpn(protocol));
            if (judge is not null)
            {
                _judge = judge;
                // Weak: the handshake's caller holds the stream while OpenSSL can call back.
                _self = GCHandle.Alloc(this, GCHandleType.Weak);
                _ = LibSsl.SSL_set_ex_data(Ssl, LibSsl.AppDataIndex, GCHandle.ToIntPtr(_self));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>True once the judge given accepted the server's certificate (always false without one).</summary>
    public bool Judged { get; private set; }

    private protected override string Peer => "server";

    private protected override string? Refusal => _refusal;

    /// <summary>
    /// OpenSSL's verify callback for client contexts: at the server's own certificate (depth 0), after its chain
    /// verified, the connection's judge has the last word; what it refuses fails the handshake as an application's
    /// verification failure.
    /// </summary>
    [UnmanagedCallersOnly]
    internal static int VerifyServer(int verified, nint store)
    {
        if (verified != 1 || LibSsl.X509_STORE_CTX_get_error_depth(store) != 0)
        {
            return verified;
        }

        OpenSslClientStream? stream = null;
        try
        {
            var ssl = LibSsl.X509_STORE_CTX_get_ex_data(store, LibSsl.SSL_get_ex_data_X509_STORE_CTX_idx());
            var self = ssl == 0 ? 0 : LibSsl.SSL_get_ex_data(ssl, LibSsl.AppDataIndex);
            if (self == 0 || GCHandle.FromIntPtr(self).Target is not OpenSslClientStream { _judge: { } judge } found)
            {
                return 1;
            }

            stream = found;
            // Up-referenced, not parsed again (OpenSSL 3.0's decoders are slow).
            using var leaf = new X509Certificate2(LibSsl.X509_STORE_CTX_get_current_cert(store));
            stream._refusal = judge(leaf);
            stream.Judged = stream._refusal is null;
            if (stream.Judged)
            {
                return 1;
            }
        }
        catch (Exception e)
        {
            // Nothing may unwind through OpenSSL's frames; a judge that fails refuses.
            stream?._refusal = "judging the server's certificate failed: " + e.Message;
        }

        LibSsl.X509_STORE_CTX_set_error(store, LibSsl.X509ErrorApplicationVerification);
        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (_self.IsAllocated)
        {
            _self.Free();
        }

        if (disposing)
        {
            // The pipes are left to the collector: completing them could hand a buffer back to the pool while a read that
            // a timeout is abandoning still writes into it.
            _transport.Dispose();
        }
    }

    /// <summary>
    /// Reads through zero-byte reads, so that an idle pooled connection holds no buffer (what SslStream does over a
    /// NetworkStream), 16 KiB at a time (about a TLS record).
    /// </summary>
    private static DuplexPipe Pipes(Stream transport) => new(
        PipeReader.Create(transport, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 2048, leaveOpen: true, useZeroByteReads: true)),
        PipeWriter.Create(transport, new StreamPipeWriterOptions(leaveOpen: true)));

    private unsafe void SetServerName(string sni)
    {
        // OpenSSL copies the name.
        var name = Encoding.ASCII.GetBytes(sni + "\0");
        fixed (byte* n = name)
        {
            if (LibSsl.SSL_ctrl(Ssl, LibSsl.CtrlSetTlsextHostname, LibSsl.TlsextNametypeHostName, (nint)n) != 1)
            {
                throw new InvalidOperationException(LibSsl.TakeErrors($"the server name '{sni}' could not be set"));
            }
        }
    }

    private unsafe void SetProtocols(ReadOnlySpan<byte> alpn)
    {
        fixed (byte* a = alpn)
        {
            if (LibSsl.SSL_set_alpn_protos(Ssl, a, (uint)alpn.Length) != 0)
            {
                throw new InvalidOperationException(LibSsl.TakeErrors("the ALPN protocols could not be set"));
            }
        }
    }
}
