using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Security;
using Causeway.Proxy.Security.OpenSsl;
using Causeway.Proxy.Transport;
using Causeway.Testing;
using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Tests.Security.OpenSsl;

/// <summary>
/// The inbound listener's OpenSSL server over the loop transport, against SslStream clients as peer sidecars make them:
/// what it agrees, whom it refuses and why, and that bytes cross both ways at once intact.
/// </summary>
public sealed class OpenSslServerStreamTests : OpenSslStreamTestBed
{
    private readonly MeshServerContext _context;

    public OpenSslServerStreamTests() => _context = MeshServerContext.Create(Workload(Cluster, Server), [Root.Root], Root.RootPem);

    [Fact]
    public async Task AMeshClient_IsAccepted_WithItsSniAlpnAndCertificate_AndBytesCrossBothWays()
    {
        var (server, client, connection) = await HandshakeAsync(ClientCertificate(Cluster, Client), [SslApplicationProtocol.Http2, Causeway.Proxy.Security.MeshTls.IstioH2]);
        await using var serverSide = server;
        using var clientSide = client;
        await using var accepted = connection;

        Assert.Equal(Sni, server.HostName);
        Assert.Equal("h2"u8.ToArray(), server.ApplicationProtocol.ToArray());
        Assert.Equal(SslApplicationProtocol.Http2, client.NegotiatedApplicationProtocol);
        Assert.Equal(SslProtocols.Tls13, server.Protocol);
        Assert.True(WorkloadIdentity.TryRead(server.PeerCertificate!, "cluster.local", out var id, out _));
        Assert.Equal(Client, id);
        Assert.Equal(Root.Root.RawData, server.VerifiedRoot);
        Assert.Equal(Server.ToString(), new X509Certificate2(client.RemoteCertificate!).GetNameInfo(X509NameType.UrlName, false));

        await client.WriteAsync("ping"u8.ToArray());
        var buffer = new byte[16];
        Assert.Equal(4, await server.ReadAsync(buffer).AsTask().WaitAsync(Patience));
        Assert.Equal("ping"u8.ToArray(), buffer[..4]);
        // A write is sent at the flush, not before.
        await server.WriteAsync("pong"u8.ToArray());
        var pong = client.ReadAsync(buffer).AsTask();
        Assert.NotSame(pong, await Task.WhenAny(pong, Task.Delay(200)));
        await server.FlushAsync();
        Assert.Equal(4, await pong.WaitAsync(Patience));
        Assert.Equal("pong"u8.ToArray(), buffer[..4]);

        // close_notify ends the client's reads cleanly, as a server's clean close should.
        await server.ShutdownAsync(CancellationToken.None);
        Assert.Equal(0, await client.ReadAsync(buffer).AsTask().WaitAsync(Patience));
    }

    [Theory]
    [InlineData("istio", "istio")]
    [InlineData("http/1.1", "http/1.1")]
    public async Task Alpn_PicksTheProtocolBothSpeak(string offered, string agreed)
    {
        var (server, client, connection) = await HandshakeAsync(ClientCertificate(Cluster, Client), [new SslApplicationProtocol(offered)]);
        await using var serverSide = server;
        using var clientSide = client;
        await using var accepted = connection;
        Assert.Equal(agreed, System.Text.Encoding.ASCII.GetString(server.ApplicationProtocol.Span));
    }

    [Fact]
    public async Task AClientSharingNoAlpnProtocol_IsRefused_AsRfc7301Says()
    {
        var failure = await RefusedAsync(ClientCertificate(Cluster, Client), new SslApplicationProtocol("spdy/3"));
        Assert.Contains("no application protocol", failure.Message);
    }

    [Fact]
    public async Task AClientWithoutACertificate_IsRefused_SayingItSentNone()
    {
        var failure = await RefusedAsync(null);
        Assert.Contains("peer did not return a certificate", failure.Message);
    }

    [Fact]
    public async Task AClientOfAnotherRoot_IsRefused_SayingItsChainEndsNowhereTrusted()
    {
        using var otherRoot = CertificateAuthority.CreateRoot("Elsewhere");
        using var otherCluster = otherRoot.CreateIntermediate("cluster9");
        var failure = await RefusedAsync(ClientCertificate(otherCluster, Client));
        Assert.Contains("certificate verify failed", failure.Message);
        Assert.Contains("the client's certificate: unable to get local issuer certificate", failure.Message);
    }

    [Fact]
    public async Task AnExpiredClientCertificate_IsRefused_SayingSo()
    {
        var expired = ForgedCertificates.Leaf(Cluster, Client, DateTimeOffset.UtcNow.AddHours(-2), DateTimeOffset.UtcNow.AddHours(-1));
        var failure = await RefusedAsync(SslStreamCertificateContext.Create(expired, [Cluster.Signer], offline: true));
        Assert.Contains("certificate has expired", failure.Message);
    }

    [Fact]
    public async Task AClientWhoseCertificateIsForServersOnly_IsRefused_SayingSo()
    {
        var serversOnly = ForgedCertificates.Leaf(Cluster, Client, usages: [ForgedCertificates.ServerAuth]);
        var failure = await RefusedAsync(SslStreamCertificateContext.Create(serversOnly, [Cluster.Signer], offline: true));
        Assert.Contains("the client's certificate: unsuitable certificate purpose", failure.Message);
    }

    [Fact]
    public async Task ReadsAndWritesAtOnce_CarryFourMebibytesEachWay_Intact()
    {
        var (server, client, connection) = await HandshakeAsync(ClientCertificate(Cluster, Client), [SslApplicationProtocol.Http2]);
        await using var serverSide = server;
        using var clientSide = client;
        await using var accepted = connection;

        var up = RandomNumberGenerator.GetBytes(4 << 20);
        var down = RandomNumberGenerator.GetBytes(4 << 20);
        var readUp = ReadExactlyAsync(server, up.Length);
        var readDown = ReadExactlyAsync(client, down.Length);
        await Task.WhenAll(WriteInChunksAsync(client, up), WriteInChunksAsync(server, down), readUp, readDown).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(up, await readUp);
        Assert.Equal(down, await readDown);
    }

    private static SslStreamCertificateContext ClientCertificate(CertificateAuthority issuer, SpiffeId id) =>
        SslStreamCertificateContext.Create(ForgedCertificates.Leaf(issuer, id), [issuer.Signer], offline: true);

    private async Task<(OpenSslServerStream Server, SslStream Client, ConnectionContext Connection)> HandshakeAsync(SslStreamCertificateContext? certificate, List<SslApplicationProtocol> alpn)
    {
        var (socket, connection) = await ConnectAsync();
        var server = new OpenSslServerStream(_context, connection.Transport);
        var client = new SslStream(new NetworkStream(socket, ownsSocket: true));
        var serverSide = server.HandshakeAsync(CancellationToken.None);
        var options = Causeway.Testing.MeshTls.ClientOptions(Sni, certificate, alpn[0]);
        options.ApplicationProtocols = alpn;
        await client.AuthenticateAsClientAsync(options).WaitAsync(Patience);
        await serverSide.WaitAsync(Patience);
        return (server, client, connection);
    }

    private async Task<(Socket Client, ConnectionContext Server)> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(Listener.EndPoint);
        return (socket, await AcceptAsync());
    }

    private async Task<AuthenticationException> RefusedAsync(SslStreamCertificateContext? certificate, SslApplicationProtocol? alpn = null)
    {
        var (socket, connection) = await ConnectAsync();
        using var clientSocket = socket;
        await using var accepted = connection;
        await using var server = new OpenSslServerStream(_context, connection.Transport);
        using var client = new SslStream(new NetworkStream(socket));
        var serverSide = server.HandshakeAsync(CancellationToken.None);
        var clientSide = client.AuthenticateAsClientAsync(Causeway.Testing.MeshTls.ClientOptions(Sni, certificate, alpn ?? SslApplicationProtocol.Http2));
        var failure = await Assert.ThrowsAsync<AuthenticationException>(() => serverSide.WaitAsync(Patience));

        // The client learns of the refusal too (TLS 1.3 clients finish first, so on their next read).
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await clientSide.WaitAsync(Patience);
            _ = await client.ReadAsync(new byte[1]).AsTask().WaitAsync(Patience);
        });
        return failure;
    }
}
