using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Causeway.Proxy.Security.OpenSsl;
using Causeway.Testing;

namespace Causeway.Proxy.Tests.Security.OpenSsl;

/// <summary>
/// The plaintext writer of an inbound mesh connection, seen from the client's side of the wire: close_notify after a
/// clean end, none after a broken one, even when the connection's own clean-up completes the writer again.
/// </summary>
public sealed class TlsPlaintextWriterTests : OpenSslStreamTestBed
{
    private readonly MeshServerContext _context;

    public TlsPlaintextWriterTests() => _context = MeshServerContext.Create(Workload(Cluster, Server), [Root.Root], Root.RootPem);

    [Theory]
    [InlineData(false, TlsRecordType.Alert)]
    [InlineData(true, TlsRecordType.ApplicationData)]
    public async Task TheFirstCompletionDecides_CloseNotifyAfterACleanEnd_NoneAfterABrokenOne(bool broken, TlsRecordType lastRecord)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(Listener.EndPoint);
        await using var connection = await AcceptAsync();
        await using var server = new OpenSslServerStream(_context, connection.Transport);
        var wire = new HeldWire(new NetworkStream(socket, ownsSocket: true));
        using var client = new SslStream(wire);
        var serverSide = server.HandshakeAsync(CancellationToken.None);
        var options = MeshTls.ClientOptions(Sni, Workload(Cluster, Client).Context, SslApplicationProtocol.Http11);
        // TLS 1.2 shows an alert's record type on the wire; TLS 1.3 hides it inside application data.
        options.EnabledSslProtocols = SslProtocols.Tls12;
        await client.AuthenticateAsClientAsync(options).WaitAsync(Patience);
        await serverSide.WaitAsync(Patience);

        var writer = new TlsPlaintextWriter(PipeWriter.Create(server, new StreamPipeWriterOptions(leaveOpen: true)), server, CancellationToken.None);
        await writer.WriteAsync("answer"u8.ToArray());
        if (broken)
        {
            await writer.CompleteAsync(new IOException("the application reset its connection"));
        }

        // What MeshTlsServer does once the connection is over, however it ended.
        await writer.CompleteAsync();
        connection.Abort();

        var received = new MemoryStream();
        try
        {
            await client.CopyToAsync(received).WaitAsync(Patience);
        }
        catch (IOException)
        {
        }

        Assert.Equal("answer"u8.ToArray(), received.ToArray());
        Assert.Equal(lastRecord, wire.LastRecordType);
    }
}
