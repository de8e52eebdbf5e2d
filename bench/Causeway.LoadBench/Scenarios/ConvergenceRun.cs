using System.Diagnostics;
using System.Globalization;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Resources;
using Causeway.Core.Security;
using Causeway.Lab;

namespace Causeway.LoadBench.Scenarios;

/// <summary>
/// B7, cross-cluster convergence: two lab clusters joined by remote secrets, cluster 2's east-west gateway, and a
/// sidecar in cluster 1. Each change is a new helloworld endpoint registered in cluster 2, timed from the moment its
/// apply is sent until the sidecar in cluster 1 serves the new weight of cluster 2's gateway (its <c>/clusters</c>),
/// which is when it has accepted, and acknowledges, that configuration. Nothing runnable to compare with: Istio
/// publishes its debounce (100 ms) only.
/// </summary>
public sealed class ConvergenceRun(string workDir, int changes, TextWriter log)
{
    private const string Host = "helloworld.sample.svc.cluster.local";
    private const int Warmup = 5;

    /// <summary>Milliseconds from each apply to the sidecar in the other cluster serving it, in order.</summary>
    public async Task<IReadOnlyList<double>> RunAsync()
    {
        var lab = LocalLab.Open(Path.Combine(workDir, "convergence-lab"));
        try
        {
            var c1 = await lab.CreateClusterAsync("conv1", "conv-net1", "conv-mesh", "default");
            var c2 = await lab.CreateClusterAsync("conv2", "conv-net2", "conv-mesh", "default");
            using var admin1 = lab.Admin(c1);
            using var admin2 = lab.Admin(c2);
            var root = await File.ReadAllTextAsync(Path.Combine(lab.RootDirectory, CaDirectory.RootCert));
            await ApplyAsync(admin1, ResourceDocuments.ToYaml([await RemoteSecrets.CreateAsync(admin2, root)]));
            await ApplyAsync(admin2, ResourceDocuments.ToYaml([await RemoteSecrets.CreateAsync(admin1, root)]));
            var service = $$"""
                apiVersion: networking.istio.io/v1beta1
                kind: ServiceEntry
                metadata: {name: helloworld, namespace: sample}
                spec:
                  hosts: [{{Host}}]
                  ports: [{number: 5000, name: http, protocol: HTTP}]
                  workloadSelector:
                    labels: {app: helloworld}
                """;
            await ApplyAsync(admin1, service);
            await ApplyAsync(admin2, service);
            await lab.InstallGatewayAsync("conv2", "conv-net2", new Dictionary<string, string> { ["istio"] = "eastwestgateway", ["topology.istio.io/network"] = "conv-net2" });
            var sleepAddress = lab.NextAddress("conv1");
            await lab.StartSidecarAsync("conv1", "", "sleep", "sample", "sleep", sleepAddress, new Dictionary<string, string> { ["app"] = "sleep" });

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var clusters = new Uri($"http://{sleepAddress}:15000/clusters");
            var times = new List<double>(changes);
            var weight = await WeightAsync(http, clusters);

            // The first few changes run code paths for the first time in four processes: warm-up, not recorded.
            for (var i = -Warmup; i < changes; i++)
            {
                var started = Stopwatch.GetTimestamp();
                await ApplyAsync(admin2, $$"""
                    apiVersion: networking.istio.io/v1beta1
                    kind: WorkloadEntry
                    metadata: {name: helloworld-{{i + Warmup}}, namespace: sample}
                    spec:
                      address: 10.{{(i + Warmup) / 250}}.{{(i + Warmup) % 250}}.1
                      labels: {app: helloworld, version: v2}
                      serviceAccount: helloworld
                    """);
                int now;
                while ((now = await WeightAsync(http, clusters)) <= weight)
                {
                    if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(30))
                    {
                        throw new TimeoutException($"change {i} did not reach the sidecar in cluster 1 within 30 s");
                    }
                }

                if (i >= 0)
                {
                    times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }

                weight = now;
            }

            log.WriteLine($"B7: {changes} changes in cluster 2, each served by cluster 1's sidecar after p50 {Percentile(times, 50):0.0} ms, p99 {Percentile(times, 99):0.0} ms");
            return times;
        }
        finally
        {
            await lab.DownAsync();
        }
    }

    public static double Percentile(IReadOnlyList<double> values, double percentile)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static async Task ApplyAsync(ControlPlaneConnection admin, string yaml)
    {
        var request = new ApplyRequest();
        request.Resources.AddRange(ResourceDocuments.ParseYaml(yaml).Select(WireDocuments.ToDocument));
        await admin.Registry.ApplyAsync(request);
    }

    /// <summary>The summed weight of helloworld's endpoints in the sidecar's <c>/clusters</c> (Envoy's line format).</summary>
    private static async Task<int> WeightAsync(HttpClient http, Uri clusters)
    {
        var text = await http.GetStringAsync(clusters);
        var total = 0;
        foreach (var line in text.Split('\n'))
        {
            var at = line.IndexOf("::weight::", StringComparison.Ordinal);
            if (at > 0 && line.Contains(Host, StringComparison.Ordinal))
            {
                total += int.Parse(line.AsSpan(at + "::weight::".Length), CultureInfo.InvariantCulture);
            }
        }

        return total;
    }
}
