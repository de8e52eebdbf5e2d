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
        Footprint? baseline = null;
        var gone = new List<IPAddress>();
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
            gone.Add(old.Address);

            // After the first replacements every cache has its working size: growth is measured from there.
            if (gone.Count == 3)
            {
                baseline = Measure();
            }
        }

        var result = await load.StopAsync();

        // How many connections the pools hold depends on the longest pause of the run (a paused load sends its backlog at
        // once, on new connections), so their count says nothing about a leak. What does: a socket still open to an
        // endpoint that has stopped, or to the load's client that has gone (the sidecar closes its side a moment after the
        // client does, hence the wait), or descriptors that are not TCP connections growing.
        var loadListener = new IPEndPoint(sleepIp, 15001);
        var end = Measure();
        var leaked = Leaked(end.Open, gone, loadListener);
        for (var settle = 0; settle < 50 && leaked.Count > 0; settle++)
        {
            await Task.Delay(100);
            end = Measure();
            leaked = Leaked(end.Open, gone, loadListener);
        }

        output.WriteLine($"{duration.TotalSeconds:0} s at {Rate} req/s: {result}; {gone.Count} endpoints replaced; managed heap {baseline?.Heap / 1024 / 1024} -> {end.Heap / 1024 / 1024} MiB, descriptors other than TCP connections {baseline?.Descriptors} -> {end.Descriptors}");

        Assert.Equal(0, result.Failed);
        Assert.True(result.Ok > duration.TotalSeconds * Rate * 0.8, $"only {result.Ok} requests were sent in {duration}");
        Assert.NotNull(baseline);
        Assert.True(leaked.Count == 0, $"{leaked.Count} sockets are still open to an endpoint or a client that has gone:\n{OpenDescriptors.Describe(leaked)}");
        Assert.True(end.Descriptors < baseline.Descriptors + 20, $"descriptors other than TCP connections grew from {baseline.Descriptors} to {end.Descriptors}:\n{OpenDescriptors.Describe(end.Open)}");
        Assert.True(end.Heap < baseline.Heap + (32L * 1024 * 1024), $"the heap grew from {baseline.Heap / 1024 / 1024} to {end.Heap / 1024 / 1024} MiB");
    }

    /// <summary>TCP sockets with a stopped endpoint at one end, or connections of the load's client (its listener aside).</summary>
    private static List<OpenDescriptors.Descriptor> Leaked(IReadOnlyList<OpenDescriptors.Descriptor> descriptors, List<IPAddress> gone, IPEndPoint loadListener)
    {
        var leaked = new List<OpenDescriptors.Descriptor>();
        foreach (var d in descriptors)
        {
            if (gone.Exists(d.Touches) || (d.Touches(loadListener) && d.Tcp!.State != "LISTEN"))
            {
                leaked.Add(d);
            }
        }

        return leaked;
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

    /// <summary>
    /// Bytes in use on the managed heap after a full collection (what survives), every open descriptor, and how many of
    /// them are not TCP connections (listeners count), all from one reading.
    /// </summary>
    private sealed record Footprint(long Heap, IReadOnlyList<OpenDescriptors.Descriptor> Open, int Descriptors);

    private static Footprint Measure()
    {
        // GC.GetTotalMemory(true) printed a negative heap once in a 10-minute run here; the last full GC's own figures did not.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        var open = OpenDescriptors.Snapshot();
        var descriptors = 0;
        foreach (var d in open)
        {
            if (d.Tcp is null or { State: "LISTEN" })
            {
                descriptors++;
            }
        }

        return new Footprint(info.HeapSizeBytes - info.FragmentedBytes, open, descriptors);
    }
}
