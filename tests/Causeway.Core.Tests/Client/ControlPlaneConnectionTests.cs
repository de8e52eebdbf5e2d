using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Security;
using Grpc.Core;

namespace Causeway.Core.Tests.Client;

/// <summary>
/// Whom a control-plane connection trusts: a server whose chain ends at the mesh root it was given, or at a root it
/// learnt since (a bundle the control plane pushed), and nobody else.
/// </summary>
public class ControlPlaneConnectionTests
{
    [Fact]
    public async Task AServerOfTheGivenRoot_IsTrusted()
    {
        using var root = CertificateAuthority.CreateRoot("Causeway given root");
        using var intermediate = root.CreateIntermediate("cluster1");
        await using var server = TlsServer.Start(intermediate);
        using var connection = ControlPlaneConnection.Create(server.Address, root.RootPem, token: null);

        await CallAsync(connection);

        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task AServerOfAnotherRoot_IsRefused_UntilTheConnectionLearnsThatRoot()
    {
        using var given = CertificateAuthority.CreateRoot("Causeway given root");
        using var other = CertificateAuthority.CreateRoot("Causeway other root");
        using var intermediate = other.CreateIntermediate("cluster1");
        await using var server = TlsServer.Start(intermediate);
        using var connection = ControlPlaneConnection.Create(server.Address, given.RootPem, token: null);

        var refused = await CallAsync(connection);

        Assert.True(RefusedTheServer(refused), $"the call did not fail on the server's certificate: {refused}");
        Assert.Equal(0, server.Accepted);

        // What a proxy does with the trust bundle the control plane pushes, after a root rotation.
        connection.TrustAlso(MeshTrust.LoadBundle(other.RootPem));
        await CallAsync(connection);

        Assert.Equal(1, server.Accepted);
    }

    /// <summary>Makes one call; the server closes every connection after the HTTP/2 preface, so every call fails, after it or on the certificate.</summary>
    private static async Task<RpcException?> CallAsync(ControlPlaneConnection connection)
    {
        try
        {
            await connection.Registry.ClusterInfoAsync(new ClusterInfoRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
            return null;
        }
        catch (RpcException e)
        {
            return e;
        }
    }

    private static bool RefusedTheServer(RpcException? e)
    {
        for (var inner = e?.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is AuthenticationException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A TLS server on loopback with a serving certificate of <c>issuer</c> (sent with its chain) that counts the clients that accepted it.</summary>
    private sealed class TlsServer : IAsyncDisposable
    {
        private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
        private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
        private readonly TcpListener _listener;
        private readonly X509Certificate2 _certificate;
        private readonly Task _accepting;
        private int _accepted;

        private TlsServer(TcpListener listener, X509Certificate2 certificate, CertificateAuthority issuer)
        {
            _listener = listener;
            _certificate = certificate;
            var context = SslStreamCertificateContext.Create(certificate, issuer.Chain, offline: true);
            _accepting = AcceptAsync(context);
        }

        public Uri Address => new($"https://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

        /// <summary>Connections whose client accepted the server's certificate and began HTTP/2.</summary>
        public int Accepted => Volatile.Read(ref _accepted);

        public static TlsServer Start(CertificateAuthority issuer)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var certificate = issuer.IssueServing(["localhost"], [IPAddress.Loopback], null, TimeSpan.FromHours(1));
            return new TlsServer(listener, certificate, issuer);
        }

        private async Task AcceptAsync(SslStreamCertificateContext context)
        {
            while (true)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }

                // Bounded, so that a client that neither sends nor closes cannot hold the loop, and the test, forever.
                using (var timeout = new CancellationTokenSource(ReadTimeout))
                using (client)
                await using (var tls = new SslStream(client.GetStream()))
                {
                    try
                    {
                        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                        {
                            ServerCertificateContext = context,
                            ApplicationProtocols = [SslApplicationProtocol.Http2],
                        }, timeout.Token);
                        // The client judges the certificate after its side of the handshake is done; only one that
                        // accepted it goes on to send HTTP/2's connection preface.
                        var preface = new byte[Preface.Length];
                        await tls.ReadExactlyAsync(preface, timeout.Token);
                        if (preface.AsSpan().SequenceEqual(Preface))
                        {
                            Interlocked.Increment(ref _accepted);
                        }
                    }
                    catch (Exception e) when (e is IOException or EndOfStreamException or AuthenticationException or OperationCanceledException)
                    {
                    }
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _accepting;
            _certificate.Dispose();
        }
    }
}
