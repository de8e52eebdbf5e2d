using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using Xunit.Abstractions;
using static Causeway.Testing.ForgedCertificates;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Hostile;

/// <summary>Reliability suite G4 (certificates at the destination) and H-1/H-2 (HTTP/1 framing and limits at the outbound port).</summary>
public class SidecarHostileInputTests(ITestOutputHelper output)
{
    private const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";

    [Fact]
    public async Task NoCertificateAWrongTrustDomainExpiredNotYetValidNoSpiffeIdOrCaLeaf_AreRefused_AndTheAppSeesNothing()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var helloIp = LoopbackAddresses.Next(5000, 15006);
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v1", "helloworld", helloIp.ToString(), "v1"));
        var app = await lab.StartAppAsync(helloIp, 5000, "v1", "v1");
        await lab.StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", helloIp);
        using var intermediate = lab.Root.CreateIntermediate("cluster1");

        // Positive control first: a good certificate from the mesh root gets an answer.
        using (var good = Leaf(intermediate, new SpiffeId("cluster.local", "sample", "sleep"), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1)))
        {
            Assert.StartsWith("HTTP/1.1 200", await RequestAsync(helloIp, good, intermediate), StringComparison.Ordinal);
        }

        var seenBefore = app.Requests;
        Assert.Null(await RequestAsync(helloIp, null, intermediate));
        using (var wrongDomain = Leaf(intermediate, new SpiffeId("evil.example", "sample", "sleep"), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1)))
        {
            Assert.Null(await RequestAsync(helloIp, wrongDomain, intermediate));
        }

        using (var expired = Leaf(intermediate, new SpiffeId("cluster.local", "sample", "sleep"), DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(-1)))
        {
            Assert.Null(await RequestAsync(helloIp, expired, intermediate));
        }

        using (var noSpiffeId = Leaf(intermediate, null))
        {
            Assert.Null(await RequestAsync(helloIp, noSpiffeId, intermediate));
        }

        using (var notYetValid = Leaf(intermediate, new SpiffeId("cluster.local", "sample", "sleep"), DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddDays(2)))
        {
            Assert.Null(await RequestAsync(helloIp, notYetValid, intermediate));
        }

        using (var caLeaf = Leaf(intermediate, new SpiffeId("cluster.local", "sample", "sleep"), ca: true))
        {
            Assert.Null(await RequestAsync(helloIp, caLeaf, intermediate));
        }

        Assert.Equal(seenBefore, app.Requests);
    }

    [Fact]
    public async Task AHostHeaderNamingAnotherServiceThanTheSni_ReachesOnlyTheSnisLocalApp()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (helloIp, otherIp) = (LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v1", "helloworld", helloIp.ToString(), "v1") + "\n---\n" +
            Service("other", 5000) + "\n---\n" + Workload("other-1", "other", otherIp.ToString(), "v1", serviceAccount: "other"));
        var hello = await lab.StartAppAsync(helloIp, 5000, "v1", "hello");
        var other = await lab.StartAppAsync(otherIp, 5000, "v1", "other");
        await lab.StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", helloIp);
        await lab.StartSidecarAsync(c1, "other-1", "sample", "other", otherIp);
        using var intermediate = lab.Root.CreateIntermediate("cluster1");
        using var leaf = Leaf(intermediate, new SpiffeId("cluster.local", "sample", "sleep"));

        // SNI says helloworld; Host says another mesh service, then the control plane: the inbound never routes by Host.
        foreach (var host in new[] { "other.sample:5000", "other.sample.svc.cluster.local:5000", "istiod.istio-system.svc:15012" })
        {
            var response = await RequestAsync(helloIp, leaf, intermediate, host, "/whoami");
            output.WriteLine($"Host {host}: {response?.Split('\r')[0] ?? "closed"}");
            Assert.NotNull(response);
            Assert.True(response.StartsWith("HTTP/1.1 421", StringComparison.Ordinal) || response.StartsWith("HTTP/1.1 200", StringComparison.Ordinal), response);
        }

        Assert.Equal(3, hello.Requests);
        Assert.Equal(0, other.Requests);
    }

    [Fact]
    public async Task AServerWithAValidMeshCertificateButTheWrongIdentityIsRefused_SecureNaming()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, goodIp, rogueIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-good", "helloworld", goodIp.ToString(), "v1") + "\n---\n" + Workload("helloworld-taken", "helloworld", rogueIp.ToString(), "v1"));
        var good = await lab.StartAppAsync(goodIp, 5000, "v1", "good");
        var rogue = await lab.StartAppAsync(rogueIp, 5000, "v1", "rogue");
        await lab.StartSidecarAsync(c1, "helloworld-good", "sample", "helloworld", goodIp);

        // A process that holds a valid mesh certificate, but for sample/impostor, took the address of helloworld-taken.
        var impostor = await lab.StartSidecarAsync(c1, "impostor", "sample", "impostor", rogueIp);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 2, "sleep sees both registered endpoints");
        Assert.Equal(["spiffe://cluster.local/ns/sample/sa/helloworld"], sleep.Config.Current!.Find(DataPlaneLab.Host, 5000)!.Identities);

        using var client = DataPlaneLab.ClientVia(sleepIp);
        for (var i = 0; i < 10; i++)
        {
            // Every request succeeds: the impostor's handshake fails, so the request never reached an app and is retried.
            Assert.Equal("Hello version: v1, instance: good\n", await client.GetStringAsync("http://helloworld.sample:5000/hello"));
        }

        Assert.Equal(10, good.Requests);
        Assert.Equal(0, rogue.Requests);

        // The refusal came during the handshake, as an alert: no connection to the impostor got past it.
        Assert.True(impostor.Metrics.ConnectionCount(InboundConnection.Listener, "tls_failed") >= 1, "the impostor's sidecar saw no failed handshake");
        Assert.Equal(0, impostor.Metrics.ConnectionCount(InboundConnection.Listener, "http1") + impostor.Metrics.ConnectionCount(InboundConnection.Listener, "http2"));
    }

    [Theory]
    [InlineData("CL.TE", "POST http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n")]
    [InlineData("two Content-Lengths", "POST http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n")]
    [InlineData("obfuscated TE", "POST http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n")]
    [InlineData("bare LF", "GET http://helloworld.sample:5000/hello HTTP/1.1\nHost: helloworld.sample:5000\n\nGET /smuggled HTTP/1.1\nHost: helloworld.sample:5000\n\n")]
    [InlineData("obs-fold", "GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nX-Folded: a\r\n b\r\n\r\n")]
    [InlineData("NUL in a header name", "GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nX-A\0b: v\r\n\r\n")]
    [InlineData("NUL in a header value", "GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nX-A: v\0GET /smuggled\r\n\r\n")]
    [InlineData("bare CR in a header value", "GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nX-A: v\rGET /smuggled HTTP/1.1\r\n\r\n")]
    [InlineData("CR in the request target", "GET http://helloworld.sample:5000/hel\rlo HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n")]
    [InlineData("control character in the request target", "GET http://helloworld.sample:5000/hel\u000flo HTTP/1.1\r\nHost: helloworld.sample:5000\r\n\r\n")]
    [InlineData("space before colon", "GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost : helloworld.sample:5000\r\n\r\n")]
    public async Task SmugglingVectorsAreRefusedOrNormalised_AndNeverBecomeTwoRequests(string name, string request)
    {
        await using var mesh = await OneServiceAsync();
        var response = await RawAsync(mesh.Sleep, request);
        output.WriteLine($"{name}: {response.Split('\r')[0]}; the app saw {string.Join(", ", mesh.App.Seen)}");
        Assert.DoesNotContain(mesh.App.Seen, s => s.Contains("/smuggled", StringComparison.Ordinal));
        Assert.True(mesh.App.Requests <= 1, $"{name}: the app saw {string.Join(", ", mesh.App.Seen)}");
        Assert.True(response.StartsWith("HTTP/1.1 400", StringComparison.Ordinal) || mesh.App.Requests == 1, $"{name}: {response}");
        if (name.Contains("target", StringComparison.Ordinal))
        {
            Assert.StartsWith("HTTP/1.1 400", response, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AForgedClientCertHeaderNeverReachesTheApp_TheDestinationSaysWhoCalled()
    {
        await using var mesh = await OneServiceAsync();
        using var client = DataPlaneLab.ClientVia(mesh.Sleep);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://helloworld.sample:5000/whoami");
        request.Headers.TryAddWithoutValidation("x-forwarded-client-cert", "By=spiffe://cluster.local/ns/sample/sa/helloworld;URI=spiffe://cluster.local/ns/istio-system/sa/istiod");
        using var response = await client.SendAsync(request);
        var whoami = await response.Content.ReadAsStringAsync();
        Assert.Contains("URI=spiffe://cluster.local/ns/sample/sa/sleep", whoami, StringComparison.Ordinal);
        Assert.DoesNotContain("istiod", whoami, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PathTricksNeverGetPastADenyByPath_TheSidecarJudgesThePathTheAppReceives()
    {
        await using var mesh = await OneServiceAsync(DenyPathsAtHelloworld("/private/*", "/private"));

        // Positive controls first: the plain path is denied, another is not.
        Assert.StartsWith("HTTP/1.1 403", await GetAsync(mesh.Sleep, "/private/secret"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", await GetAsync(mesh.Sleep, "/hello"), StringComparison.Ordinal);

        // After Istio's security fuzz (dotdotpwn-style) and the CVEs behind its path normalization.
        string[] tricks =
        [
            "/public/../private/secret", "/./private/secret", "/private/./secret", "/private//secret", "//private/secret",
            "/%70rivate/secret", "/private%2Fsecret", "/private%2fsecret", "/public/%2e%2e/private/secret", "/public/%2E%2E/private/secret",
            "/public/..%2Fprivate/secret", "/public/..%2fprivate/secret", "/%2570rivate/secret", "/private%00/secret", "/private;/secret",
            "/private/secret;x", "/private\\secret", "/public\\..\\private\\secret", "/private/secret%23", "/private/secret?x=1",
            "/private/secret#frag", "/public/%252e%252e/private/secret", "/private/%73ecret", "/%2e/private/secret", "/public/.%2e/private/secret",
        ];
        var leaked = new List<string>();
        foreach (var path in tricks)
        {
            var response = await GetAsync(mesh.Sleep, path);
            output.WriteLine($"{path} -> {response.Split('\r')[0]}");
            if (response.Contains("SECRET", StringComparison.Ordinal))
            {
                leaked.Add(path);
            }
        }

        output.WriteLine("the app saw: " + string.Join(", ", mesh.App.Seen));
        Assert.Empty(leaked);
    }

    [Fact]
    public async Task OversizedHeadersAndTooManyHeadersGet431()
    {
        await using var mesh = await OneServiceAsync();
        var big = "GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\nX-Big: " + new string('a', 70 * 1024) + "\r\n\r\n";
        Assert.StartsWith("HTTP/1.1 431", await RawAsync(mesh.Sleep, big), StringComparison.Ordinal);
        var many = "GET http://helloworld.sample:5000/hello HTTP/1.1\r\nHost: helloworld.sample:5000\r\n" + string.Concat(Enumerable.Range(0, 150).Select(i => $"X-H{i}: v\r\n")) + "\r\n";
        Assert.StartsWith("HTTP/1.1 431", await RawAsync(mesh.Sleep, many), StringComparison.Ordinal);
        Assert.Equal(0, mesh.App.Requests);
    }

    private sealed record OneService(DataPlaneLab Lab, IPAddress Sleep, TestApp App) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Lab.DisposeAsync();
    }

    private static async Task<OneService> OneServiceAsync(string extraYaml = "")
    {
        var lab = new DataPlaneLab();
        try
        {
            var mesh = await lab.StartOneServiceAsync(extraYaml);
            return new OneService(lab, mesh.Sleep, mesh.App);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }


    /// <summary>A raw GET of <paramref name="path"/>, sent verbatim, through the sidecar's outbound port.</summary>
    private static Task<string> GetAsync(IPAddress sidecar, string path) =>
        RawAsync(sidecar, $"GET http://helloworld.sample:5000{path} HTTP/1.1\r\nHost: helloworld.sample:5000\r\nConnection: close\r\n\r\n");

    /// <summary>Sends raw bytes to the sidecar's outbound port and returns everything it answers until it closes or goes quiet.</summary>
    private static async Task<string> RawAsync(IPAddress sidecar, string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sidecar, 15001);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var text = new StringBuilder();
        var buffer = new byte[8192];
        try
        {
            using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            int n;
            while ((n = await stream.ReadAsync(buffer, quiet.Token)) > 0)
            {
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
        }

        return text.ToString();
    }

    /// <summary>A GET over mTLS straight to the inbound port with <paramref name="leaf"/>; null when the sidecar refuses.</summary>
    private static async Task<string?> RequestAsync(IPAddress server, X509Certificate2? leaf, CertificateAuthority intermediate, string host = "helloworld.sample:5000", string path = "/hello")
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server, 15006);
        using var ssl = new SslStream(tcp.GetStream());
        try
        {
            var certificate = leaf is null ? null : SslStreamCertificateContext.Create(leaf, [intermediate.Signer], offline: true);
            await ssl.AuthenticateAsClientAsync(MeshTls.ClientOptions(Sni, certificate, SslApplicationProtocol.Http11));
            await ssl.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var n = await ssl.ReadAsync(buffer, timeout.Token);
            return n == 0 ? null : Encoding.ASCII.GetString(buffer, 0, n);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            return null;
        }
    }
}
