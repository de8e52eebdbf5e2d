using System.Diagnostics;
using System.Globalization;
using System.Net;
using Causeway.Testing;
using Xunit.Abstractions;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>
/// Reliability suite, the soak: steady load through a sidecar while helloworld's endpoints are replaced one by one, as
/// a rolling update does. CI runs it for 20 s; <c>CAUSEWAY_SOAK_SECONDS=600</c> runs the full 10 minutes.
/// </summary>
[Collection(RunsAloneCollection.Name)]
public class SoakTests(ITestOutputHelper output)
{
    private const int Rate = 100;

    [Fact]
    public async Task SteadyLoadThroughRollingEndpointChurn_LosesNoRequest_AndNeitherHeapNorDescriptorsGrow()
    {
        var duration = TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("CAUSEWAY_SOAK_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s : 20);
        var churnEvery = TimeSpan.FromSeconds(2);
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        await c1.ApplyAsync(Service("helloworld", 5000));
        var endpoints = new Queue<Endpoint>();
        var generation = 0;
        for (; generation < 2; generation++)
        {
            endpoints.Enqueue(await StartEndpointAsync(lab, c1, generation));
        }

        var sleepIp = LoopbackAddresses.Next(15001, 15006);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep) == 2, "sleep sees both endpoints");

        var load = SteadyLoad.Start(sleepIp, Rate);
        var started = Stopwatch.GetTimestamp();
        (long Heap, int Descriptors)? baseline = null;
        var replaced = 0;
        while (Stopwatch.GetElapsedTime(started) < duration)
        {
            await Task.Delay(churnEvery);

            // A rolling update: the new endpoint first, then the old one leaves the registry before its sidecar drains and stops.
            endpoints.Enqueue(await StartEndpointAsync(lab, c1, generation++));
            var old = endpoints.Dequeue();
            await c1.DeleteAsync("WorkloadEntry", "sample", old.Name);
            await DataPlaneLab.WaitUntilAsync(() => sleep.Config.Current!.Find(DataPlaneLab.Host, 5000)!.Picker.Endpoints.All(e => e.Address != old.Address.ToString()), "sleep forgets " + old.Name);
            await lab.StopAsync(old.Sidecar);
            await lab.StopAsync(old.App);
            replaced++;

            // After the first replacements every pool and cache has its working size: growth is measured from there.
            if (replaced == 3)
            {
                baseline = Footprint();
            }
        }

        var result = await load.StopAsync();
        // The load's client was just disposed; the sidecar closes its side of those connections a moment later. A leaked
        // descriptor never closes, so wait (at most 5 s) for the count to settle before judging it.
        var end = Footprint();
        for (var settle = 0; settle < 50 && baseline is { } b && end.Descriptors >= b.Descriptors + 50; settle++)
        {
            await Task.Delay(100);
            end = Footprint();
        }

        output.WriteLine($"{duration.TotalSeconds:0} s at {Rate} req/s: {result}; {replaced} endpoints replaced; managed heap {baseline?.Heap / 1024 / 1024} -> {end.Heap / 1024 / 1024} MiB, descriptors {baseline?.Descriptors} -> {end.Descriptors}");

        Assert.Equal(0, result.Failed);
        Assert.True(result.Ok > duration.TotalSeconds * Rate * 0.8, $"only {result.Ok} requests were sent in {duration}");
        Assert.NotNull(baseline);
        Assert.True(end.Descriptors < baseline.Value.Descriptors + 50, $"descriptors grew from {baseline.Value.Descriptors} to {end.Descriptors}");
        Assert.True(end.Heap < baseline.Value.Heap + (32L * 1024 * 1024), $"the heap grew from {baseline.Value.Heap / 1024 / 1024} to {end.Heap / 1024 / 1024} MiB");
    }

    private sealed record Endpoint(string Name, IPAddress Address, TestApp App, ProxyServer Sidecar);

    private static async Task<Endpoint> StartEndpointAsync(DataPlaneLab lab, DataPlaneLab.Cluster cluster, int generation)
    {
        var name = $"helloworld-{generation}";
        var address = LoopbackAddresses.Next(5000, 15006);
        var app = await lab.StartAppAsync(address, 5000, "v1", name);
        var sidecar = await lab.StartSidecarAsync(cluster, name, "sample", "helloworld", address);
        await cluster.ApplyAsync(Workload(name, "helloworld", address.ToString(), "v1"));
        return new Endpoint(name, address, app, sidecar);
    }

    /// <summary>Bytes in use on the managed heap after a full collection (what survives), and open descriptors.</summary>
    private static (long Heap, int Descriptors) Footprint()
    {
        // GC.GetTotalMemory(true) printed a negative heap once in a 10-minute run here; the last full GC's own figures did not.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        return (info.HeapSizeBytes - info.FragmentedBytes, Directory.GetFiles("/proc/self/fd").Length);
    }
}
