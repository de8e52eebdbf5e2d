using Causeway.Proxy.Gateway;

namespace Causeway.Benchmarks.Tests;

/// <summary>Every benchmark runs once here, so none can rot between benchmark runs; and the hot paths keep their allocation budget (none).</summary>
public class BenchmarkSmokeTests
{
    [Fact]
    public void HotPathBenchmarksRun_AndAllocateNothing()
    {
        using var bench = new HotPathBenchmarks();
        bench.Setup();
        Assert.Equal(ClientHelloStatus.Complete, bench.ParseClientHello());
        Assert.True(bench.ParseMeshSni());
        Assert.NotNull(bench.PickRoundRobin());
        Assert.NotNull(bench.PickLeastRequest());
        Assert.Equal(7, bench.DecodeRequestHead());
        Assert.True(bench.EncodeRequestHead() > 0);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            bench.ParseClientHello();
            bench.PickRoundRobin();
            bench.PickLeastRequest();
            bench.DecodeRequestHead();
            bench.EncodeRequestHead();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ProxyViewBenchmarkRuns_AndSeesBothClusters()
    {
        var bench = new ProxyViewBenchmarks { Services = 100 };
        bench.Setup();
        var first = bench.BuildFirstSidecarView();
        var view = bench.BuildSidecarView();
        Assert.Equal(first, view);
        Assert.Equal(101, view.Services.Count);
        var svc0 = view.Services.First(s => s.Name == "svc0").Ports.Single();
        Assert.Equal(5, svc0.Endpoints.Count(e => !e.ViaGateway));
        Assert.Equal(5u, svc0.Endpoints.Single(e => e.ViaGateway).Weight);
    }
}
