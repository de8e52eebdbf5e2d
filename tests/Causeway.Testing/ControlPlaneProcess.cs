using System.Net;
using System.Text.Json;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Resources;

namespace Causeway.Testing;

/// <summary>A real control-plane process on its own loopback address, with an admin connection to it.</summary>
public sealed class ControlPlaneProcess : IAsyncDisposable
{
    private readonly CausewayProcess _process;

    private ControlPlaneProcess(CausewayProcess process, string cluster, string dataDirectory, Uri discovery, Uri monitoring, string rootPem, string adminToken)
    {
        _process = process;
        Cluster = cluster;
        DataDirectory = dataDirectory;
        Discovery = discovery;
        Monitoring = monitoring;
        RootPem = rootPem;
        AdminToken = adminToken;
        Admin = ControlPlaneConnection.Create(discovery, rootPem, adminToken);
        Http = new HttpClient { BaseAddress = monitoring, Timeout = TimeSpan.FromSeconds(10) };
    }

    public string Cluster { get; }

    public string DataDirectory { get; }

    public Uri Discovery { get; }

    public Uri Monitoring { get; }

    public string RootPem { get; }

    public string AdminToken { get; }

    public ControlPlaneConnection Admin { get; }

    /// <summary>A client of the monitoring port (15014).</summary>
    public HttpClient Http { get; }

    public CausewayProcess Process => _process;

    /// <summary>Starts <c>causeway control-plane</c> and waits until it has written where it listens.</summary>
    public static async Task<ControlPlaneProcess> StartAsync(string cluster, string network, string meshId, string dataDirectory, string caDirectory, IPAddress address, string revision = "default", params string[] options)
    {
        var endpointsFile = Path.Combine(dataDirectory, "control-plane.json");
        Directory.CreateDirectory(dataDirectory);
        File.Delete(endpointsFile);
        var process = CausewayProcess.Start([
            "control-plane", "--cluster", cluster, "--network", network, "--mesh-id", meshId, "--revision", revision,
            "--data-dir", dataDirectory, "--ca-dir", caDirectory, "--listen", address.ToString(), "--debounce-ms", "20", .. options]);
        try
        {
            await process.WaitForFileAsync(endpointsFile, TimeSpan.FromSeconds(30));
            using var doc = JsonDocument.Parse(await ReadWhenCompleteAsync(endpointsFile));
            var root = await File.ReadAllTextAsync(Path.Combine(caDirectory, "root-cert.pem"));
            var token = await File.ReadAllTextAsync(Path.Combine(dataDirectory, "admin-token"));
            return new ControlPlaneProcess(process, cluster, dataDirectory, new Uri(doc.RootElement.GetProperty("discovery").GetString()!), new Uri(doc.RootElement.GetProperty("monitoring").GetString()!), root, token);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Applies YAML through the registry API, as <c>causeway apply</c> does.</summary>
    public async Task<ApplyResponse> ApplyAsync(string yaml, string? ns = null)
    {
        var request = new ApplyRequest();
        request.Resources.AddRange(ResourceDocuments.ParseYaml(yaml, ns).Select(WireDocuments.ToDocument));
        return await Admin.Registry.ApplyAsync(request);
    }

    public async Task DeleteAsync(string kind, string ns, string name) =>
        await Admin.Registry.DeleteAsync(new ResourceRef { Kind = kind, Namespace = ns, Name = name });

    /// <summary>A token that lets a proxy act as <paramref name="ns"/>/<paramref name="serviceAccount"/>.</summary>
    public async Task<string> WorkloadTokenAsync(string ns, string serviceAccount) =>
        (await Admin.Registry.IssueTokenAsync(new IssueTokenRequest { Scope = "workload", Namespace = ns, ServiceAccount = serviceAccount })).Token;

    public Task StopAsync() => _process.StopAsync(TimeSpan.FromSeconds(10));

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Http.Dispose();
        await _process.DisposeAsync();
    }

    private static async Task<string> ReadWhenCompleteAsync(string path)
    {
        for (var i = 0; ; i++)
        {
            var text = await File.ReadAllTextAsync(path);
            if (text.TrimEnd().EndsWith('}') || i > 100)
            {
                return text;
            }

            await Task.Delay(20);
        }
    }
}
