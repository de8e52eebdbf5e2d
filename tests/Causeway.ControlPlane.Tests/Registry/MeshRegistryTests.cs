using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Store;
using Causeway.Core.Resources;
using Causeway.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Causeway.ControlPlane.Tests.Registry;

public class MeshRegistryTests
{
    private static string Workload(int i) => Manifests.Workload($"w{i}", "app", $"10.0.0.{i}", "v1");

    /// <summary>A remote secret naming a control plane on a loopback port nothing listens on: its watcher starts and keeps retrying.</summary>
    private static string Secret(string cluster)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test root", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
        var pem = string.Join("\n", root.ExportCertificatePem().Split('\n').Select(l => "    " + l));
        return $"""
            apiVersion: causeway.io/v1alpha1
            kind: RemoteSecret
            metadata: {"{"}name: remote-{cluster}, namespace: istio-system{"}"}
            spec:
              cluster: {cluster}
              address: https://127.0.0.1:1
              token: reader
              caBundle: |
            {pem}
            """;
    }

    [Fact]
    public async Task ARemoteSecretAmongOtherChanges_StartsItsWatcher_AndItsRemovalStopsIt()
    {
        using var dir = new TempDirectory();
        using var store = ResourceStore.Open(dir.Path);
        var options = new ControlPlaneOptions { Cluster = "cluster1", Network = "network1", MeshId = "mesh", DataDirectory = dir.Path };
        var local = new LocalRegistry(store, 100);
        await using var mesh = new MeshRegistry(local, options, () => "", NullLoggerFactory.Instance);

        // Changes that touch no remote secret leave the remotes as they are (they are not looked for among the resources).
        local.Apply(ResourceDocuments.ParseYaml(Workload(1)));
        local.Apply(ResourceDocuments.ParseYaml(Workload(2)));
        Assert.Empty(mesh.Current.Remotes);

        local.Apply(ResourceDocuments.ParseYaml(Secret("cluster2")));
        var remote = Assert.Single(mesh.Current.Remotes);
        Assert.Equal("cluster2", remote.Key);
        Assert.False(remote.Value.Synced);

        local.Apply(ResourceDocuments.ParseYaml(Workload(3)));
        Assert.Equal(["cluster2"], mesh.Current.Remotes.Keys);

        // A secret applied in the same write as a workload, then its removal.
        local.Apply(ResourceDocuments.ParseYaml(Workload(4) + "\n---\n" + Secret("cluster3")));
        Assert.Equal(["cluster2", "cluster3"], mesh.Current.Remotes.Keys);
        local.Delete([new ResourceKey("RemoteSecret", "istio-system", "remote-cluster2")]);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (mesh.Current.Remotes.ContainsKey("cluster2") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(["cluster3"], mesh.Current.Remotes.Keys);
    }
}
