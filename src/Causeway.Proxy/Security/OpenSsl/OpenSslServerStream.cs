using System.IO.Pipelines;
using System.Runtime.InteropServices;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// The server side of an inbound mesh connection (<see cref="OpenSslStream"/>) over the connection's transport pipe. A
/// write is sent at the flush, as Kestrel's pipe writers flush.
/// </summary>
public sealed class OpenSslServerStream : OpenSslStream
{
    /// <summary>A connection of <paramref name="context"/> over <paramref name="transport"/>; nothing is read until <see cref="OpenSslStream.HandshakeAsync"/>.</summary>
    public OpenSslServerStream(MeshServerContext context, IDuplexPipe transport)
        : base(context, transport, sendsAtWrite: false)
    {
        LibSsl.SSL_set_accept_state(Ssl);
    }

    /// <summary>The server name the client asked for (SNI), once the handshake is done.</summary>
    public string? HostName { get; private set; }

    private protected override string Peer => "client";

    private protected override void OnHandshaken() => HostName = Marshal.PtrToStringUTF8(LibSsl.SSL_get_servername(Ssl, 0));
}
