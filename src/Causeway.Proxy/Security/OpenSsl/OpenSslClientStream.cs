using System.IO.Pipelines;
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

    /// <summary>A connection of <paramref name="context"/> to <paramref name="sni"/> carrying <paramref name="protocol"/>; nothing is sent until <see cref="OpenSslStream.HandshakeAsync"/>.</summary>
    public OpenSslClientStream(MeshClientContext context, Stream transport, string sni, MeshProtocol protocol)
        : base(context, Pipes(transport), sendsAtWrite: true)
    {
        _transport = transport;
        try
        {
            LibSsl.SSL_set_connect_state(Ssl);
            SetServerName(sni);
            SetProtocols(MeshClientContext.Alpn(protocol));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private protected override string Peer => "server";

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
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
