using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;

namespace Causeway.Proxy.Tests.Security;

/// <summary>The inbound listener's TLS middleware in a running sidecar, seen from a mesh client's side of the wire.</summary>
public sealed class MeshTlsServerTests
{
    private const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private static readonly SpiffeId Sleep = new("cluster.local", "sample", "sleep");
    private static readonly byte[] Request = "GET /hello HTTP/1.1\r\nHost: helloworld\r\nConnection: close\r\n\r\n"u8.ToArray();

    [Fact]
    public async Task AConnectionTheSidecarEnds_EndsWithCloseNotify()
    {
        await using var lab = new DataPlaneLab();
        var one = await lab.StartOneServiceAsync();
        using var ca = lab.Root.CreateIntermediate("test");
        using var leaf = ForgedCertificates.Leaf(ca, Sleep);

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(one.Hello, 15006);
        var wire = new HeldWire(tcp.GetStream());
        using var tls = new SslStream(wire);
        var options = MeshTls.ClientOptions(Sni, SslStreamCertificateContext.Create(leaf, [ca.Signer], offline: true), SslApplicationProtocol.Http11);
        // TLS 1.2 shows an alert's record type on the wire; TLS 1.3 hides it inside application data.
        options.EnabledSslProtocols = SslProtocols.Tls12;
        await tls.AuthenticateAsClientAsync(options);
        await tls.WriteAsync(Request);
        var response = new MemoryStream();
        await tls.CopyToAsync(response).WaitAsync(Patience);

        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(response.ToArray()), StringComparison.Ordinal);
        // The last record before the sidecar's FIN is close_notify, so the client knows the response was not cut.
        Assert.Equal(TlsRecordType.Alert, wire.LastRecordType);
    }

    [Fact]
    public async Task AClientWhoseRootLeftTheTrustBundleDuringItsHandshake_IsRefusedAfterIt()
    {
        await using var lab = new DataPlaneLab();
        var one = await lab.StartOneServiceAsync();
        using var second = CertificateAuthority.CreateRoot("Causeway second root");
        using var secondCa = second.CreateIntermediate("cluster1");
        using var leaf = ForgedCertificates.Leaf(secondCa, Sleep);

        // The sidecar trusts the client's root when the handshake begins (its context is chosen then)...
        DataPlaneLab.WriteCaFile(one.C1, CaDirectory.RootCert, lab.RootPem + "\n" + second.RootPem + "\n");
        await DataPlaneLab.WaitUntilAsync(() => one.HelloSidecar.Config.Current!.Roots.Count == 2, "the sidecar trusts both roots");
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(one.Hello, 15006);
        // The ClientHello goes; the client's certificate waits.
        var wire = new HeldWire(tcp.GetStream()) { HoldWritesAfter = 1 };
        using var tls = new SslStream(wire);
        var handshake = tls.AuthenticateAsClientAsync(MeshTls.ClientOptions(Sni, SslStreamCertificateContext.Create(leaf, [secondCa.Signer], offline: true), SslApplicationProtocol.Http11));
        await wire.Holding.WaitAsync(Patience);

        // ...and no longer does when the client's certificate arrives: OpenSSL still verifies it against the context's roots.
        DataPlaneLab.WriteCaFile(one.C1, CaDirectory.RootCert, lab.RootPem + "\n");
        await DataPlaneLab.WaitUntilAsync(() => one.HelloSidecar.Config.Current!.Roots.Count == 1, "the sidecar trusts the first root only");
        wire.Release();
        var answer = new MemoryStream();
        try
        {
            // On TLS 1.3 the client's side ends before the server has judged its certificate.
            await handshake.WaitAsync(Patience);
            await tls.WriteAsync(Request);
            await tls.CopyToAsync(answer).WaitAsync(Patience);
        }
        catch (Exception e) when (e is IOException or AuthenticationException)
        {
        }

        Assert.Equal(0, answer.Length);
        Assert.Equal(0, one.App.Requests);
        Assert.Equal(1, one.HelloSidecar.Metrics.ConnectionCount(InboundConnection.Listener, "tls_failed"));
    }
}
