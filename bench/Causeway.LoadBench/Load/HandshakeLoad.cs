using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Causeway.LoadBench.Load;

/// <summary>
/// B5's load on the destination side of a pair: loops that each open a new mTLS connection (a full handshake with the
/// mesh client certificate, no session resumption), send one HTTP/1.1 request with <c>Connection: close</c>, read the
/// answer to its end, and open the next: new mTLS connections per second, each carrying one request through to the
/// backend. The server's chain is validated against the mesh root, as a sidecar does; its name is not, since a mesh
/// certificate names a SPIFFE identity rather than the SNI.
/// </summary>
public sealed class HandshakeLoad(IPEndPoint entry, string serverName, SslStreamCertificateContext clientCertificate, X509Certificate2 root, string host)
{
    private readonly X509ChainPolicy _trust = new() { TrustMode = X509ChainTrustMode.CustomRootTrust, CustomTrustStore = { root }, RevocationMode = X509RevocationMode.NoCheck };
    private readonly byte[] _request = Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");

    /// <summary>Why the last failed connection failed, for the log.</summary>
    public string? LastError { get; private set; }

    /// <summary>Opens, asks, reads and closes, over and over on <paramref name="concurrency"/> loops, for <paramref name="duration"/> (each loop at least once).</summary>
    public Task<(long Completed, long Errors)> RunAsync(int concurrency, TimeSpan duration) =>
        ConnectionLoops.RunAsync(concurrency, duration, 16 * 1024, OneAsync,
            e => e is SocketException or IOException or AuthenticationException or OperationCanceledException, why => LastError = why);

    /// <summary>True when the answer was a 200.</summary>
    private async Task<bool> OneAsync(byte[] buffer)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(entry, timeout.Token);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            ClientCertificateContext = clientCertificate,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            EnabledSslProtocols = SslProtocols.Tls13,
            AllowTlsResume = false,
            CertificateChainPolicy = _trust,
            RemoteCertificateValidationCallback = (_, _, _, errors) => (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None,
        }, timeout.Token);
        await tls.WriteAsync(_request, timeout.Token);
        var total = 0;
        int read;
        while ((read = await tls.ReadAsync(buffer.AsMemory(total), timeout.Token)) > 0)
        {
            total += read;
            if (total == buffer.Length)
            {
                return false;
            }
        }

        return total > 12 && buffer.AsSpan(9, 3).SequenceEqual("200"u8);
    }

    /// <summary>The client certificate with its intermediates, from the PEM files the peers use.</summary>
    public static SslStreamCertificateContext ClientCertificate(string chainFile, string keyFile)
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(chainFile);
        using var leaf = X509Certificate2.CreateFromPemFile(chainFile, keyFile);
        // An ephemeral key cannot be used by the TLS stack on Linux; export and import makes it a real one.
        var usable = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
        return SslStreamCertificateContext.Create(usable, new X509Certificate2Collection(chain.Skip(1).ToArray()), offline: true);
    }
}
