using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Testing;
using Xunit.Abstractions;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>Reliability suite M-8 (and G8): Istio's three-step root CA rotation across two clusters, under load.</summary>
public class RootRotationTests(ITestOutputHelper output)
{
    private const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";

    [Fact]
    public async Task TheRootIsRotatedInThreeStepsUnderLoad_WithNoFailedRequest_AndTheOldRootIsThenRefused()
    {
        await using var lab = new DataPlaneLab();
        var lifetime = TimeSpan.FromSeconds(4);
        var c1 = await lab.StartClusterAsync("cluster1", "network1", lifetime);
        var c2 = await lab.StartClusterAsync("cluster2", "network2", lifetime);
        await lab.LinkAsync(c1, c2);
        var (sleepIp, v1Ip, v2Ip, gwIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(15443, 15000, 15021));
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v1", "helloworld", v1Ip.ToString(), "v1"));
        await c2.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v2", "helloworld", v2Ip.ToString(), "v2") + "\n---\n" + EastWestGateway(gwIp.ToString(), "network2") + "\n---\n" + ExposeServices);
        await lab.StartAppAsync(v1Ip, 5000, "v1", "v1");
        var v2 = await lab.StartAppAsync(v2Ip, 5000, "v2", "v2");
        var proxies = new List<ProxyServer>
        {
            await lab.StartSidecarAsync(c1, "helloworld-v1", "sample", "helloworld", v1Ip),
            await lab.StartSidecarAsync(c2, "helloworld-v2", "sample", "helloworld", v2Ip),
            await lab.StartGatewayAsync(c2, gwIp),
            await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp),
        };
        var sidecars = proxies.Where(p => p.Certificates is not null).ToList();
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(proxies[^1]) == 2, "sleep sees both clusters");

        // Local and cross-cluster requests (through the gateway) all along.
        var load = SteadyLoad.Start(sleepIp, 100);
        using var newRoot = CertificateAuthority.CreateRoot("Causeway new root");
        var oldRootPem = lab.RootPem;
        var both = oldRootPem + "\n" + newRoot.RootPem + "\n";

        // Step 1: every cluster trusts both roots; still signing from the old one.
        foreach (var cluster in new[] { c1, c2 })
        {
            DataPlaneLab.WriteCaFile(cluster, CaDirectory.RootCert, both);
        }

        await DataPlaneLab.WaitUntilAsync(() => proxies.All(p => p.Config.Current!.Roots.Count == 2), "every proxy trusts both roots");
        output.WriteLine($"step 1 done; {v2.Requests} requests at v2 so far");

        // Step 2: each cluster signs from an intermediate of the new root; workloads take new certificates as they renew.
        var newIntermediates = new Dictionary<string, CertificateAuthority>();
        foreach (var cluster in new[] { c1, c2 })
        {
            var intermediate = newRoot.CreateIntermediate(cluster.Name);
            newIntermediates[cluster.Name] = intermediate;
            var dir = cluster.Options.CaDirectory!;
            var staged = Path.Combine(Path.GetDirectoryName(dir)!, cluster.Name + "-new-ca");
            CaDirectory.WriteIntermediate(intermediate, staged);
            DataPlaneLab.WriteCaFile(cluster, CaDirectory.CaKey, File.ReadAllText(Path.Combine(staged, CaDirectory.CaKey)));
            DataPlaneLab.WriteCaFile(cluster, CaDirectory.CaCert, File.ReadAllText(Path.Combine(staged, CaDirectory.CaCert)));
            DataPlaneLab.WriteCaFile(cluster, CaDirectory.CertChain, File.ReadAllText(Path.Combine(staged, CaDirectory.CertChain)));
            DataPlaneLab.WriteCaFile(cluster, CaDirectory.RootCert, newRoot.RootPem + "\n" + oldRootPem + "\n");
        }

        try
        {
            // Usually within 10 s: the control plane re-reads its cacerts every 5 s, and certificates live 4 s.
            await DataPlaneLab.WaitUntilAsync(() => sidecars.All(s => MeshTrust.TryValidate(s.Certificates!.Current!.Certificate, newIntermediates.Values.Select(i => i.Signer), [newRoot.Root], out _)), "every sidecar holds a certificate from the new root", 30);
        }
        catch (TimeoutException)
        {
            // This timed out once in CI and once in about 100 local runs, most under CPU stress (past 60 s), cause not found:
            // say what each sidecar holds.
            foreach (var s in sidecars)
            {
                var held = s.Certificates!.Current!;
                output.WriteLine($"{s.Certificates.Identity}: issued by {held.Certificate.Issuer}, received {held.ReceivedAt:HH:mm:ss.fff}, valid until {held.NotAfter:HH:mm:ss}; now {DateTimeOffset.UtcNow:HH:mm:ss.fff}");
            }

            throw;
        }

        output.WriteLine($"step 2 done; {v2.Requests} requests at v2 so far");

        // Positive control for the end: while both roots are trusted, a certificate from the old root is accepted.
        using var oldIntermediate = lab.Root.CreateIntermediate("cluster1");
        using var oldLeaf = ForgedCertificates.Leaf(oldIntermediate, new SpiffeId("cluster.local", "sample", "sleep"));
        Assert.True(await AcceptedAsync(v1Ip, oldLeaf, oldIntermediate), "a certificate from the old root was refused while both roots were trusted");

        // Step 3: the old root goes.
        foreach (var cluster in new[] { c1, c2 })
        {
            DataPlaneLab.WriteCaFile(cluster, CaDirectory.RootCert, newRoot.RootPem + "\n");
        }

        await DataPlaneLab.WaitUntilAsync(() => proxies.All(p => p.Config.Current!.Roots.Count == 1 && p.Config.Current.Roots[0].RawDataMemory.Span.SequenceEqual(newRoot.Root.RawDataMemory.Span)), "every proxy trusts the new root only");
        var before = v2.Requests;
        await DataPlaneLab.WaitUntilAsync(() => v2.Requests > before + 20, "cross-cluster requests after step 3");
        var result = await load.StopAsync();
        output.WriteLine($"rotation under load: {result}");
        Assert.Equal(0, result.Failed);

        // New handshakes after the rotation work, and a certificate from the old root is refused now.
        var lateIp = LoopbackAddresses.Next(15001, 15006);
        await lab.StartSidecarAsync(c1, "sleep-late", "sample", "sleep", lateIp);
        using (var late = DataPlaneLab.ClientVia(lateIp))
        {
            for (var i = 0; i < 4; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await late.GetAsync("http://helloworld.sample:5000/hello")).StatusCode);
            }
        }

        Assert.False(await AcceptedAsync(v1Ip, oldLeaf, oldIntermediate), "a certificate from the removed root was accepted");
        foreach (var i in newIntermediates.Values)
        {
            i.Dispose();
        }
    }

    /// <summary>
    /// Whether a destination's inbound port takes an mTLS connection with <paramref name="leaf"/>. On TLS 1.3 the client
    /// may finish its side before the server judges the client certificate, so accepted means the server sent its
    /// HTTP/2 SETTINGS; refused means it closed without a frame (or failed the handshake).
    /// </summary>
    private static async Task<bool> AcceptedAsync(IPAddress destination, X509Certificate2 leaf, CertificateAuthority issuer)
    {
        try
        {
            await using var attempt = await Http2FrameClient.ConnectAsync(destination, 15006, Sni, SslStreamCertificateContext.Create(leaf, [issuer.Signer], offline: true));
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (attempt.BytesRead == 0 && !attempt.Closed.IsCompleted && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            return attempt.BytesRead > 0;
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            return false;
        }
    }
}
