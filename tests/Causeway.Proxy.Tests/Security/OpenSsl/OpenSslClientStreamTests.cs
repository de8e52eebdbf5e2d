using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Security;
using Causeway.Proxy.Security.OpenSsl;
using Causeway.Proxy.Transport;
using Causeway.Testing;
using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Tests.Security.OpenSsl;

/// <summary>
/// The client side of the mesh connections a sidecar opens, on OpenSSL over the event loop's sockets, against the
/// inbound listener's OpenSSL server and against SslStream servers: what it offers, whom it refuses and why, and that
/// bytes cross both ways intact, a half-close included.
/// </summary>
public sealed class OpenSslClientStreamTests : OpenSslStreamTestBed
{
    private readonly MeshServerContext _server;
    private readonly MeshClientContext _client;

    public OpenSslClientStreamTests()
    {
        _server = MeshServerContext.Create(Workload(Cluster, Server), [Root.Root], Root.RootPem);
        _client = MeshClientContext.Create(Workload(Cluster, Client), [Root.Root], Root.RootPem);
    }

    [Theory]
    [InlineData(MeshProtocol.Http2, "h2")]
    [InlineData(MeshProtocol.Http11, "http/1.1")]
    [InlineData(MeshProtocol.Tcp, "istio")]
    public async Task AgainstTheMeshServer_ItSendsItsSniAlpnAndCertificate_AndBytesCrossBothWays(MeshProtocol protocol, string alpn)
    {
        var (client, server, connection) = await HandshakeAsync(protocol);
        await using var clientSide = client;
        await using var serverSide = server;
        await using var accepted = connection;

        Assert.Equal(Sni, server.HostName);
        Assert.Equal(alpn, Encoding.ASCII.GetString(server.ApplicationProtocol.Span));
        Assert.Equal(alpn, Encoding.ASCII.GetString(client.ApplicationProtocol.Span));
        Assert.Equal(SslProtocols.Tls13, client.Protocol);
        Assert.True(WorkloadIdentity.TryRead(server.PeerCertificate!, "cluster.local", out var clientId, out _));
        Assert.Equal(Client, clientId);
        Assert.True(WorkloadIdentity.TryRead(client.PeerCertificate!, "cluster.local", out var serverId, out _));
        Assert.Equal(Server, serverId);
        Assert.Equal(Root.Root.RawData, client.VerifiedRoot);
        Assert.True(client.Judged);

        // A client write is sent at once, as SslStream's are: the forwarders and tunnels do not flush.
        await client.WriteAsync("ping"u8.ToArray());
        var buffer = new byte[16];
        Assert.Equal(4, await server.ReadAsync(buffer).AsTask().WaitAsync(Patience));
        Assert.Equal("ping"u8.ToArray(), buffer[..4]);
        await server.WriteAsync("pong"u8.ToArray());
        await server.FlushAsync();
        Assert.Equal(4, await client.ReadAsync(buffer).AsTask().WaitAsync(Patience));
        Assert.Equal("pong"u8.ToArray(), buffer[..4]);
    }

    [Fact]
    public async Task AHalfClose_SendsCloseNotify_AndTheClientStillReadsTheAnswer()
    {
        var (client, server, connection) = await HandshakeAsync(MeshProtocol.Tcp);
        await using var clientSide = client;
        await using var serverSide = server;
        await using var accepted = connection;

        await client.WriteAsync("request"u8.ToArray());
        await client.ShutdownAsync(CancellationToken.None);
        var request = new MemoryStream();
        await server.CopyToAsync(request).WaitAsync(Patience);
        Assert.Equal("request"u8.ToArray(), request.ToArray());

        await server.WriteAsync("answer"u8.ToArray());
        await server.ShutdownAsync(CancellationToken.None);
        var answer = new MemoryStream();
        await client.CopyToAsync(answer).WaitAsync(Patience);
        Assert.Equal("answer"u8.ToArray(), answer.ToArray());
    }

    [Fact]
    public async Task AServerOfAnotherRoot_IsRefused_SayingItsChainEndsNowhereTrusted()
    {
        using var otherRoot = CertificateAuthority.CreateRoot("Elsewhere");
        using var otherCluster = otherRoot.CreateIntermediate("cluster9");
        var failure = await RefusedByClientAsync(MeshServerContext.Create(Workload(otherCluster, Server), [Root.Root], Root.RootPem), "unknown ca");
        Assert.Contains("the server's certificate: unable to get local issuer certificate", failure.Message);
    }

    [Fact]
    public async Task AServerTheJudgeRefuses_FailsTheHandshake_WithTheJudgesReason_AndTheServerHearsAnAlert()
    {
        SpiffeId? judged = null;
        var failure = await RefusedByClientAsync(_server, "alert handshake failure", server =>
            WorkloadIdentity.TryRead(server, "cluster.local", out judged, out _) ? "not who the service runs as" : "no identity");

        Assert.Equal(Server, judged);
        Assert.Equal("not who the service runs as", failure.Message);
    }

    [Fact]
    public async Task AJudgeThatThrows_Refuses()
    {
        var failure = await RefusedByClientAsync(_server, "alert handshake failure", _ => throw new InvalidOperationException("the routes are gone"));
        Assert.Equal("judging the server's certificate failed: the routes are gone", failure.Message);
    }

    [Fact]
    public async Task AServerWhoseCertificateIsForClientsOnly_IsRefused_SayingSo()
    {
        var failure = await RefusedByClientAsync(MeshServerContext.Create(Workload(Cluster, Server, [ForgedCertificates.ClientAuth]), [Root.Root], Root.RootPem));
        Assert.Contains("the server's certificate: unsuitable certificate purpose", failure.Message);
    }

    [Fact]
    public async Task AgainstAnSslStreamServer_ItAgreesH2_AndPresentsItsCertificate()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accept = listener.AcceptSocketAsync();
        var socket = await ReadinessSocket.ConnectAsync((IPEndPoint)listener.LocalEndpoint, EventLoop.Pick(), CancellationToken.None);
        await using var client = new OpenSslClientStream(_client, new ReadinessStream(socket), Sni, MeshProtocol.Http2);
        await using var server = new SslStream(new NetworkStream(await accept, ownsSocket: true));
        X509Certificate? presented = null;
        var serverSide = server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = Workload(Cluster, Server).Context,
            ClientCertificateRequired = true,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, certificate, _, _) => (presented = certificate) is not null,
        });

        await client.HandshakeAsync(CancellationToken.None).WaitAsync(Patience);
        await serverSide.WaitAsync(Patience);

        Assert.Equal(SslApplicationProtocol.Http2, server.NegotiatedApplicationProtocol);
        Assert.Equal(Sni, server.TargetHostName);
        Assert.True(WorkloadIdentity.TryRead(new X509Certificate2(presented!), "cluster.local", out var id, out _));
        Assert.Equal(Client, id);
        await client.WriteAsync("ping"u8.ToArray());
        var buffer = new byte[4];
        await server.ReadExactlyAsync(buffer).AsTask().WaitAsync(Patience);
        Assert.Equal("ping"u8.ToArray(), buffer);
    }

    [Fact]
    public async Task ReadsAndWritesAtOnce_CarryFourMebibytesEachWay_Intact()
    {
        var (client, server, connection) = await HandshakeAsync(MeshProtocol.Http2);
        await using var clientSide = client;
        await using var serverSide = server;
        await using var accepted = connection;

        var up = RandomNumberGenerator.GetBytes(4 << 20);
        var down = RandomNumberGenerator.GetBytes(4 << 20);
        var readUp = ReadExactlyAsync(server, up.Length);
        var readDown = ReadExactlyAsync(client, down.Length);
        await Task.WhenAll(WriteInChunksAsync(client, up), WriteInChunksAsync(server, down), readUp, readDown).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(up, await readUp);
        Assert.Equal(down, await readDown);
    }

    private async Task<(OpenSslClientStream Client, OpenSslServerStream Server, ConnectionContext Connection)> HandshakeAsync(MeshProtocol protocol)
    {
        var (socket, connection) = await ConnectAsync();
        var server = new OpenSslServerStream(_server, connection.Transport);
        var client = new OpenSslClientStream(_client, new ReadinessStream(socket), Sni, protocol, _ => null);
        var serverSide = server.HandshakeAsync(CancellationToken.None);
        await client.HandshakeAsync(CancellationToken.None).WaitAsync(Patience);
        await serverSide.WaitAsync(Patience);
        return (client, server, connection);
    }

    /// <summary>
    /// The client's refusal of <paramref name="impostor"/> (with <paramref name="judge"/>, when given); the server hears
    /// of it by an alert naming <paramref name="alert"/>.
    /// </summary>
    private async Task<AuthenticationException> RefusedByClientAsync(MeshServerContext impostor, string alert = "unsupported certificate", Func<X509Certificate2, string?>? judge = null)
    {
        var (socket, connection) = await ConnectAsync();
        await using var accepted = connection;
        await using var server = new OpenSslServerStream(impostor, connection.Transport);
        await using var client = new OpenSslClientStream(_client, new ReadinessStream(socket), Sni, MeshProtocol.Http2, judge);
        var serverSide = server.HandshakeAsync(CancellationToken.None);
        var failure = await Assert.ThrowsAsync<AuthenticationException>(() => client.HandshakeAsync(CancellationToken.None).WaitAsync(Patience));
        var refused = await Assert.ThrowsAsync<AuthenticationException>(() => serverSide.WaitAsync(Patience));
        Assert.Contains(alert, refused.Message);
        return failure;
    }

    private async Task<(ReadinessSocket Client, ConnectionContext Server)> ConnectAsync()
    {
        var socket = await ReadinessSocket.ConnectAsync((IPEndPoint)Listener.EndPoint, EventLoop.Pick(), CancellationToken.None);
        return (socket, await AcceptAsync());
    }
}
