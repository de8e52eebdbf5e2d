using System.Diagnostics;
using System.Text.Json;
using Causeway.Api.V1;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Testing;
using Grpc.Core;
using Xunit.Abstractions;

namespace Causeway.ControlPlane.Tests.Integration;

/// <summary>Two real control-plane processes joined into one mesh by remote secrets, observed through the discovery API.</summary>
public class MultiClusterDiscoveryTests(ITestOutputHelper output)
{
    private const string Host = "helloworld.sample.svc.cluster.local";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static readonly string HelloworldService = Manifests.Service("helloworld", 5000);

    private static string Workload(string name, string address, string version) => Manifests.Workload(name, "helloworld", address, version);

    private static string EastWestGateway(string address, string network) => Manifests.EastWestGateway(address, network);

    private static ProxyNode Sleep(int cluster) => new()
    {
        Id = $"sleep-{cluster}.sample",
        WorkloadName = "sleep",
        Namespace = "sample",
        ServiceAccount = "sleep",
        Network = $"network{cluster}",
        Revision = "default",
        Role = ProxyRole.Sidecar,
    };

    private static ProxyNode SleepReplica()
    {
        var node = Sleep(1);
        node.Id = "sleep-1b.sample";
        return node;
    }

    private static List<LbEndpoint> Endpoints(ProxyConfig config) =>
        config.Services.FirstOrDefault(s => s.Hostname == Host)?.Ports.Single().Endpoints.ToList() ?? [];

    [Fact]
    public async Task ASidecarInCluster1_SeesLocalEndpointsDirectly_AndCluster2sThroughItsGateway_AndGetsPushedChanges()
    {
        await using var lab = await MeshLab.StartAsync();
        await lab.LinkAsync();
        await lab.Cluster1.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v1", "127.11.1.10", "v1") + "\n---\n" + EastWestGateway("127.11.1.30", "network1"));
        await lab.Cluster2.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v2", "127.11.2.10", "v2") + "\n---\n" + EastWestGateway("127.11.2.30", "network2"));

        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1));

        var first = await sleep.WaitForAsync(c => Endpoints(c).Count == 2, Wait, "v1 direct and cluster 2's gateway");
        var endpoints = Endpoints(first.Config);
        Assert.Contains(endpoints, e => e is { Address: "127.11.1.10", Port: 5000, Weight: 1, ViaGateway: false, Network: "network1", WorkloadName: "helloworld-v1" });
        Assert.Contains(endpoints, e => e is { Address: "127.11.2.30", Port: 15443, Weight: 1, ViaGateway: true, Network: "network2", Cluster: "cluster2" });
        Assert.Empty(first.Config.Withheld);
        Assert.Contains("BEGIN CERTIFICATE", first.Config.TrustBundlePem, StringComparison.Ordinal);

        // A second v2 replica in cluster 2: the gateway now stands for two endpoints.
        var stopwatch = Stopwatch.StartNew();
        await lab.Cluster2.ApplyAsync(Workload("helloworld-v2-b", "127.11.2.11", "v2"));
        await sleep.WaitForAsync(c => Endpoints(c).Any(e => e.ViaGateway && e.Weight == 2), Wait, "the gateway weighted 2");
        output.WriteLine($"cluster 2 add -> cluster 1 sidecar push: {stopwatch.ElapsedMilliseconds} ms");

        // Deregistering the remote endpoints removes the gateway from the view, by push.
        stopwatch.Restart();
        await lab.Cluster2.DeleteAsync("WorkloadEntry", "sample", "helloworld-v2");
        await lab.Cluster2.DeleteAsync("WorkloadEntry", "sample", "helloworld-v2-b");
        var last = await sleep.WaitForAsync(c => Endpoints(c).Count == 1, Wait, "only v1 left");
        output.WriteLine($"cluster 2 delete -> cluster 1 sidecar push: {stopwatch.ElapsedMilliseconds} ms");
        Assert.Equal("127.11.1.10", Endpoints(last.Config).Single().Address);

        // The control plane saw our ACK of the newest version.
        await Eventually(async () =>
        {
            var syncz = JsonDocument.Parse(await lab.Cluster1.Http.GetStringAsync("/debug/syncz")).RootElement;
            var proxy = syncz.EnumerateArray().Single(p => p.GetProperty("proxy").GetString() == "sleep-1.sample");
            return proxy.GetProperty("status").GetString() == "synced" && proxy.GetProperty("lastAckedVersion").GetString() == last.VersionInfo;
        }, "syncz shows the sidecar synced at the last version");

        var clusterz = await lab.Cluster1.Http.GetStringAsync("/debug/clusterz");
        Assert.Contains("\"cluster\":\"cluster2\"", clusterz, StringComparison.Ordinal);
        Assert.Contains("\"status\":\"synced\"", clusterz, StringComparison.Ordinal);
        Assert.Contains("causeway_remote_cluster_synced{cluster=\"cluster2\"} 1", await lab.Cluster1.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreachableRemoteKeepsItsEndpointsMarkedStale_AndResyncsWhenItReturns()
    {
        await using var lab = await MeshLab.StartAsync();
        await lab.LinkAsync();
        await lab.Cluster1.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v1", "127.11.1.10", "v1"));
        await lab.Cluster2.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v2", "127.11.2.10", "v2") + "\n---\n" + EastWestGateway("127.11.2.30", "network2"));
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1));
        await sleep.WaitForAsync(c => Endpoints(c).Count == 2, Wait, "both clusters' endpoints");

        await lab.Cluster2.StopAsync();
        await Eventually(async () => (await lab.Cluster1.Http.GetStringAsync("/debug/clusterz")).Contains("\"status\":\"stale\"", StringComparison.Ordinal), "cluster 2 marked stale");
        Assert.Contains("\"stale\":true", await lab.Cluster1.Http.GetStringAsync("/debug/endpointz"), StringComparison.Ordinal);
        var pushedWhileDown = sleep.Received.Count;
        await Task.Delay(500);
        Assert.Equal(2, Endpoints(sleep.Received[^1].Config).Count);
        Assert.Equal(pushedWhileDown, sleep.Received.Count);

        await lab.Cluster2.DisposeAsync();
        lab.Cluster2 = await lab.StartClusterAsync(2);
        await Eventually(async () => (await lab.Cluster1.Http.GetStringAsync("/debug/clusterz")).Contains("\"status\":\"synced\"", StringComparison.Ordinal), "cluster 2 synced again");
        await lab.Cluster2.ApplyAsync(Workload("helloworld-v2-b", "127.11.2.11", "v2"));
        await sleep.WaitForAsync(c => Endpoints(c).Any(e => e.ViaGateway && e.Weight == 2), Wait, "a change made after the return");
    }

    [Fact]
    public async Task ARemovedRemoteSecretTakesItsEndpointsAway_AndAReappliedOneBringsThemBack()
    {
        await using var lab = await MeshLab.StartAsync();
        var secret2 = await Core.Client.RemoteSecrets.CreateAsync(lab.Cluster2.Admin, lab.Cluster2.RootPem);
        await lab.Cluster1.ApplyAsync(Core.Resources.ResourceDocuments.ToYaml([secret2]));
        await lab.Cluster1.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v1", "127.11.1.10", "v1"));
        await lab.Cluster2.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v2", "127.11.2.10", "v2") + "\n---\n" + EastWestGateway("127.11.2.30", "network2"));
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1));
        await sleep.WaitForAsync(c => Endpoints(c).Count == 2, Wait, "both clusters' endpoints");

        // Deleting the secret is how an operator unlinks a cluster: its endpoints go within the debounce maximum (1 s).
        var removed = Stopwatch.StartNew();
        await lab.Cluster1.DeleteAsync("RemoteSecret", secret2.Metadata.Namespace ?? "", secret2.Metadata.Name);
        await sleep.WaitForAsync(c => Endpoints(c).Count == 1, Wait, "cluster 2's endpoints removed");
        output.WriteLine($"endpoints gone {removed.ElapsedMilliseconds} ms after the secret was deleted");
        Assert.DoesNotContain("cluster2", await lab.Cluster1.Http.GetStringAsync("/debug/clusterz"), StringComparison.Ordinal);

        await lab.Cluster1.ApplyAsync(Core.Resources.ResourceDocuments.ToYaml([secret2]));
        await sleep.WaitForAsync(c => Endpoints(c).Count == 2, Wait, "cluster 2's endpoints back with its secret");
    }

    [Fact]
    public async Task ARemoteUnreachableAtStart_HoldsReadinessOnlyUntilTheSyncTimeout_AndSaysWhich()
    {
        await using var lab = await MeshLab.StartAsync();
        await lab.LinkAsync();
        await lab.Cluster2.StopAsync();
        await lab.Cluster2.DisposeAsync();

        // Cluster 1 restarts while cluster 2 is gone: ready is held back, then given without it after --remote-sync-timeout.
        await lab.Cluster1.StopAsync();
        await lab.Cluster1.DisposeAsync();
        var started = Stopwatch.StartNew();
        lab.Cluster1 = await lab.StartClusterAsync(1, "default", "--remote-sync-timeout", "3s");
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1));
        using (var early = await lab.Cluster1.Http.GetAsync("/ready"))
        {
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, early.StatusCode);
            Assert.Contains("waiting for remote clusters to sync: cluster2", await early.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Still inside the wait: a proxy that connected has been given nothing yet.
        Assert.Empty(sleep.Received);
        await Eventually(async () => (await lab.Cluster1.Http.GetAsync("/ready")).IsSuccessStatusCode, "ready without cluster 2");
        output.WriteLine($"ready {started.ElapsedMilliseconds} ms after the start");

        // A proxy that connected meanwhile got its first configuration only when the wait ended.
        await sleep.WaitForAsync(c => Endpoints(c).Count == 0, Wait, "a first configuration (cluster 2 never synced, so without its endpoints)");
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(20));
        Assert.Contains("ready (remote clusters not synced after 3s: cluster2)", await lab.Cluster1.Http.GetStringAsync("/ready"), StringComparison.Ordinal);
        Assert.Contains("causeway_remote_cluster_synced{cluster=\"cluster2\"} 0", await lab.Cluster1.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARestartedControlPlaneKeepsEveryResource_AndRelinks()
    {
        await using var lab = await MeshLab.StartAsync();
        await lab.LinkAsync();
        await lab.Cluster1.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v1", "127.11.1.10", "v1") + "\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: sample, labels: {istio.io/rev: default}}");
        await lab.Cluster2.ApplyAsync(HelloworldService + "\n---\n" + Workload("helloworld-v2", "127.11.2.10", "v2") + "\n---\n" + EastWestGateway("127.11.2.30", "network2"));
        var before = await lab.Cluster1.Admin.Registry.ListAsync(new ListRequest());

        await lab.Cluster1.StopAsync();
        await lab.Cluster1.DisposeAsync();
        lab.Cluster1 = await lab.StartClusterAsync(1);

        var after = await lab.Cluster1.Admin.Registry.ListAsync(new ListRequest());
        Assert.Equal(before.Resources.Select(r => (r.Kind, r.Namespace, r.Name, r.DocumentJson)), after.Resources.Select(r => (r.Kind, r.Namespace, r.Name, r.DocumentJson)));
        Assert.Equal(4, after.Resources.Count);
        Assert.Contains(after.Resources, r => r.Kind == "RemoteSecret");

        // The first configuration after a restart already holds the remote endpoints: it waits for the remote to sync.
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1));
        await sleep.WaitForAsync(c => true, Wait, "a first configuration");
        Assert.Equal(2, Endpoints(sleep.Received[0].Config).Count);
    }

    [Fact]
    public async Task ForgedIdentitiesWrongRevisionsAndForeignCsrsAreRefused_WithTheReason()
    {
        await using var lab = await MeshLab.StartAsync();
        var cp = lab.Cluster1;
        var sleepToken = await cp.WorkloadTokenAsync("sample", "sleep");

        var claimsIstiod = Sleep(1);
        claimsIstiod.ServiceAccount = "istiod";
        await using (var forged = await DiscoveryStream.OpenAsync(cp.Discovery, cp.RootPem, sleepToken, claimsIstiod))
        {
            var e = await forged.WaitForErrorAsync(Wait);
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Contains("token grants sample/sleep", e.Status.Detail, StringComparison.Ordinal);
        }

        var wrongRevision = Sleep(1);
        wrongRevision.Revision = "asm-1134-4";
        await using (var stream = await DiscoveryStream.OpenAsync(cp.Discovery, cp.RootPem, sleepToken, wrongRevision))
        {
            var e = await stream.WaitForErrorAsync(Wait);
            Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
            Assert.Contains("revision 'asm-1134-4'", e.Status.Detail, StringComparison.Ordinal);
        }

        await cp.ApplyAsync("apiVersion: v1\nkind: Namespace\nmetadata: {name: sample, labels: {istio.io/rev: canary}}");
        await using (var stream = await DiscoveryStream.OpenAsync(cp.Discovery, cp.RootPem, sleepToken, Sleep(1)))
        {
            var e = await stream.WaitForErrorAsync(Wait);
            Assert.Contains("labelled istio.io/rev=canary", e.Status.Detail, StringComparison.Ordinal);
        }

        using var connection = Causeway.Core.Client.ControlPlaneConnection.Create(cp.Discovery, cp.RootPem, sleepToken);
        var (key, csr) = WorkloadCsr.Create(new SpiffeId("cluster.local", "istio-system", "istiod"));
        key.Dispose();
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await connection.Certificates.SignAsync(new SignRequest { CsrPem = csr }));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("may only have spiffe://cluster.local/ns/sample/sa/sleep", refused.Status.Detail, StringComparison.Ordinal);

        var (ownKey, ownCsr) = WorkloadCsr.Create(new SpiffeId("cluster.local", "sample", "sleep"));
        using (ownKey)
        {
            var signed = await connection.Certificates.SignAsync(new SignRequest { CsrPem = ownCsr });
            var leaf = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(signed.CertChainPem[0]);
            Assert.True(MeshTrust.TryValidate(leaf, signed.CertChainPem.Skip(1).Select(p => System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(p)), MeshTrust.LoadBundle(cp.RootPem), out var error), error);
        }

        // A workload token may not write the registry, and a bad token is not a token at all.
        var denied = await Assert.ThrowsAsync<RpcException>(async () => await connection.Registry.ApplyAsync(new ApplyRequest()));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        using var bad = Causeway.Core.Client.ControlPlaneConnection.Create(cp.Discovery, cp.RootPem, "cw1.forged.token");
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(async () => await bad.Registry.ListAsync(new ListRequest()))).StatusCode);

        // Invalid YAML content is refused whole, with the field named.
        var invalid = await Assert.ThrowsAsync<RpcException>(async () => await cp.Admin.Registry.ApplyAsync(new ApplyRequest
        {
            Resources = { new ResourceDocument { Kind = "Gateway", Namespace = "istio-system", Name = "x", DocumentJson = """{"apiVersion":"networking.istio.io/v1beta1","kind":"Gateway","metadata":{"name":"x","namespace":"istio-system"},"spec":{"servers":[{"port":{"number":15443,"protocol":"TLS"},"hosts":["*.local"],"tls":{"mode":"AUTO_PASSTHROUGH","credentialName":"c"}}]}}""" } },
        }));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("credentialName", invalid.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANackIsRecorded_WithTheProxysReason_AndCounted()
    {
        await using var lab = await MeshLab.StartAsync();
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1), _ => "listener 15001: cannot bind");
        await sleep.WaitForAsync(_ => true, Wait, "a first configuration");

        await Eventually(async () => (await lab.Cluster1.Http.GetStringAsync("/debug/syncz")).Contains("\"status\":\"nacked\"", StringComparison.Ordinal), "syncz shows the NACK");
        Assert.Contains("listener 15001: cannot bind", await lab.Cluster1.Http.GetStringAsync("/debug/syncz"), StringComparison.Ordinal);
        Assert.Contains("pilot_total_xds_rejects 1", await lab.Cluster1.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AChangeToOneService_IsPushedAsThatServiceOnly_AndMergesIntoWhatAFreshProxyIsSentWhole()
    {
        await using var lab = await MeshLab.StartAsync();
        await lab.Cluster1.ApplyAsync(string.Join("\n---\n", HelloworldService, Manifests.Service("ratings", 9080), Manifests.Service("reviews", 9080),
            Workload("helloworld-v1", "127.11.1.10", "v1"), Manifests.Workload("ratings-v1", "ratings", "127.11.1.20", "v1", 9080), Manifests.Workload("reviews-v1", "reviews", "127.11.1.21", "v1", 9080)));
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1));
        var first = await sleep.WaitForAsync(c => c.Services.Count(s => s.Namespace == "sample") == 3, Wait, "three services");

        await lab.Cluster1.ApplyAsync(Workload("helloworld-v1-b", "127.11.1.11", "v1"));
        var added = await sleep.WaitForAsync(c => Endpoints(c).Count == 2, Wait, "helloworld's second endpoint");
        var change = sleep.Incremental.Single(r => r.VersionInfo == added.VersionInfo);
        Assert.Equal(first.VersionInfo, change.BaseVersion);
        Assert.Equal([Host], change.Config.Services.Select(s => s.Hostname));
        Assert.Empty(change.RemovedServices);

        await lab.Cluster1.DeleteAsync("ServiceEntry", "sample", "ratings");
        var removed = await sleep.WaitForAsync(c => c.Services.All(s => s.Name != "ratings"), Wait, "ratings gone");
        var removal = sleep.Incremental.Single(r => r.VersionInfo == removed.VersionInfo);
        Assert.Equal(["ratings.sample.svc.cluster.local"], removal.RemovedServices);
        Assert.Empty(removal.Config.Services);

        // Another sidecar of the same workload connecting now is sent the same configuration whole.
        await using var fresh = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, SleepReplica());
        var whole = await fresh.WaitForAsync(_ => true, Wait, "a first configuration");
        Assert.Equal("", whole.BaseVersion);
        Assert.Equal(whole.Config, removed.Config);

        var metrics = await lab.Cluster1.Http.GetStringAsync("/metrics");
        Assert.Contains("causeway_xds_pushes_total{type=\"incremental\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AProxyThatAcceptsCompression_IsSentTheCompleteConfigurationCompressed_AndExpandsItToTheSameOne()
    {
        await using var lab = await MeshLab.StartAsync();
        var manifests = Enumerable.Range(0, 30).SelectMany(i => new[] { Manifests.Service($"svc-{i:D2}", 9080), Manifests.Workload($"svc-{i:D2}-v1", $"svc-{i:D2}", $"127.11.2.{i + 10}", "v1", 9080) });
        await lab.Cluster1.ApplyAsync(string.Join("\n---\n", manifests));
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        // A proxy of the release before Brotli says only that it accepts compression, and is sent gzip.
        var gzipOnly = SleepReplica();
        gzipOnly.AcceptsCompressedConfig = true;
        var brotliNode = SleepReplica();
        brotliNode.Id = "sleep-1c.sample";
        brotliNode.AcceptsCompressedConfig = true;
        brotliNode.AcceptedCompressions.Add(Causeway.Core.Client.DiscoveryUpdates.Compressions);
        await using var plain = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1));
        await using var gzip = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, gzipOnly);
        await using var brotli = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, brotliNode);
        foreach (var stream in new[] { plain, gzip, brotli })
        {
            await stream.WaitForAsync(c => c.Services.Count(s => s.Namespace == "sample") == 30, Wait, "thirty services");
        }

        // The same topology, so the same configuration once expanded (each proxy's own part names nothing of its own).
        await Eventually(() => Task.FromResult(plain.Received[^1].VersionInfo == gzip.Received[^1].VersionInfo && plain.Received[^1].VersionInfo == brotli.Received[^1].VersionInfo), "the three streams at one version");
        foreach (var stream in new[] { gzip, brotli })
        {
            Assert.Equal(plain.Received[^1].Config.Services, stream.Received[^1].Config.Services);
            Assert.True(stream.Received[^1].Config.Compressed.IsEmpty);
        }

        var (plainBytes, plainCompressed, _) = plain.Wire[0];
        var (gzipBytes, gzipPart, gzipCompression) = gzip.Wire[0];
        var (brotliBytes, brotliPart, brotliCompression) = brotli.Wire[0];
        Assert.Equal(0, plainCompressed);
        Assert.True(gzipPart > 0 && brotliPart > 0, "the first responses carried a compressed part");
        Assert.Equal(ConfigCompression.Gzip, gzipCompression);
        Assert.Equal(ConfigCompression.Brotli, brotliCompression);
        Assert.True(gzipBytes * 2 < plainBytes, $"gzip {gzipBytes} bytes against {plainBytes}");
        Assert.True(brotliBytes < gzipBytes, $"Brotli {brotliBytes} bytes against gzip's {gzipBytes}");
        output.WriteLine($"first response: {plainBytes} bytes plain, {gzipBytes} with gzip, {brotliBytes} with Brotli");
    }

    [Fact]
    public async Task AfterANackOfAnIncrementalResponse_TheNextIsComplete_AndCarriesTheChange()
    {
        await using var lab = await MeshLab.StartAsync();
        // Three services, so that one changed is sent incrementally (past half of them, a complete response is as cheap).
        await lab.Cluster1.ApplyAsync(string.Join("\n---\n", HelloworldService, Manifests.Service("ratings", 9080), Manifests.Service("reviews", 9080), Workload("helloworld-v1", "127.11.1.10", "v1")));
        var token = await lab.Cluster1.WorkloadTokenAsync("sample", "sleep");
        var refused = 0;
        await using var sleep = await DiscoveryStream.OpenAsync(lab.Cluster1.Discovery, lab.Cluster1.RootPem, token, Sleep(1),
            r => r.BaseVersion.Length > 0 && Interlocked.Increment(ref refused) == 1 ? "listener 15001: cannot bind" : null);
        await sleep.WaitForAsync(c => Endpoints(c).Count == 1, Wait, "helloworld's endpoint");

        await lab.Cluster1.ApplyAsync(Workload("helloworld-v1-b", "127.11.1.11", "v1"));
        await Eventually(() => Task.FromResult(sleep.Received.Count >= 3), "the incremental response and the complete one after its NACK");
        var received = sleep.Received;
        var nacked = received.ToList().FindIndex(r => r.BaseVersion.Length > 0);
        Assert.True(nacked > 0, "an incremental response was sent");
        var after = received[nacked + 1];
        Assert.Equal("", after.BaseVersion);
        Assert.Equal(2, Endpoints(after.Config).Count);
        Assert.Equal(3, after.Config.Services.Count(s => s.Namespace == "sample"));
    }

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting until " + what);
            }

            await Task.Delay(100);
        }
    }
}
