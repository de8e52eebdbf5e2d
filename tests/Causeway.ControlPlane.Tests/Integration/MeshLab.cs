using System.Net;
using Causeway.Core.Client;
using Causeway.Testing;

namespace Causeway.ControlPlane.Tests.Integration;

/// <summary>A mesh root and two clusters' control planes as real processes, each on its own loopback address.</summary>
internal sealed class MeshLab : IAsyncDisposable
{
    public const string MeshId = "proj-1234";

    private MeshLab(TempDirectory dir) => Dir = dir;

    public TempDirectory Dir { get; }

    public ControlPlaneProcess Cluster1 { get; set; } = null!;

    public ControlPlaneProcess Cluster2 { get; set; } = null!;

    public IPAddress Address1 { get; private set; } = null!;

    public IPAddress Address2 { get; private set; } = null!;

    /// <summary>Creates the root and both intermediates with the CLI, as an operator would, and starts both control planes.</summary>
    public static async Task<MeshLab> StartAsync()
    {
        var lab = new MeshLab(new TempDirectory("causeway-mesh"));
        try
        {
            await Run("ca", "create-root", "--out", lab.Dir.Combine("root"));
            await Run("ca", "create-intermediate", "--cluster", "cluster1", "--root-dir", lab.Dir.Combine("root"), "--out", lab.Dir.Combine("cluster1-ca"));
            await Run("ca", "create-intermediate", "--cluster", "cluster2", "--root-dir", lab.Dir.Combine("root"), "--out", lab.Dir.Combine("cluster2-ca"));
            lab.Address1 = LoopbackAddresses.Next(15012, 15014);
            lab.Address2 = LoopbackAddresses.Next(15012, 15014);
            var starting1 = lab.StartClusterAsync(1);
            var starting2 = lab.StartClusterAsync(2);
            lab.Cluster1 = await starting1;
            lab.Cluster2 = await starting2;
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    public Task<ControlPlaneProcess> StartClusterAsync(int n, string revision = "default", params string[] options) =>
        ControlPlaneProcess.StartAsync($"cluster{n}", $"network{n}", MeshId, Dir.Combine($"cluster{n}-data"), Dir.Combine($"cluster{n}-ca"), n == 1 ? Address1 : Address2, revision, options);

    /// <summary>What <c>causeway create-mesh</c> does: a remote secret of each cluster applied to the other.</summary>
    public async Task LinkAsync()
    {
        var secret2 = await RemoteSecrets.CreateAsync(Cluster2.Admin, Cluster2.RootPem);
        var secret1 = await RemoteSecrets.CreateAsync(Cluster1.Admin, Cluster1.RootPem);
        await Cluster1.ApplyAsync(Causeway.Core.Resources.ResourceDocuments.ToYaml([secret2]));
        await Cluster2.ApplyAsync(Causeway.Core.Resources.ResourceDocuments.ToYaml([secret1]));
    }

    public async ValueTask DisposeAsync()
    {
        if (Cluster1 is not null)
        {
            await Cluster1.DisposeAsync();
        }

        if (Cluster2 is not null)
        {
            await Cluster2.DisposeAsync();
        }

        Dir.Dispose();
    }

    private static async Task Run(params string[] args)
    {
        var (code, output) = await CausewayProcess.RunAsync(TimeSpan.FromSeconds(60), args);
        if (code != 0)
        {
            throw new InvalidOperationException($"causeway {string.Join(' ', args)} exited {code}:\n{output}");
        }
    }
}
