namespace Causeway.LoadBench;

/// <summary>How a benchmark run is sized; the defaults are the documented full run, <see cref="Smoke"/> the test suite's.</summary>
public sealed record BenchSettings
{
    /// <summary>Measured runs of every scenario (after one warm-up); the report gives medians and the min-max spread.</summary>
    public int Runs { get; init; } = 5;

    /// <summary>Seconds each peer is measured in each run.</summary>
    public double Seconds { get; init; } = 10;

    /// <summary>Seconds of unrecorded load before each measurement.</summary>
    public double WarmupSeconds { get; init; } = 2;

    /// <summary>
    /// Seconds of the first, longer warm-up of each peer: a .NET proxy compiles its hot paths again, optimised, only after
    /// they have run a while (with 2 s, Causeway's first measured B5 run cost 1.6 times the CPU per connection of its second).
    /// </summary>
    public double FirstWarmupSeconds => WarmupSeconds * 5;

    /// <summary>B2/B3's fixed request rate (Istio's published sidecar figures are at 1,000 req/s).</summary>
    public int Rate { get; init; } = 1000;

    /// <summary>B2/B3's connections from the load generator (Istio's benchmark uses 16 at 1,000 req/s).</summary>
    public int Connections { get; init; } = 16;

    /// <summary>B1's connections (wrk, the same for every peer).</summary>
    public int SaturationConnections { get; init; } = 64;

    /// <summary>B4's HTTP/2 connections from h2load, and the streams it keeps open on each.</summary>
    public int H2Connections { get; init; } = 8;

    public int H2Streams { get; init; } = 16;

    /// <summary>B5's loops, each opening a new mTLS connection for one request, one after another.</summary>
    public int HandshakeConcurrency { get; init; } = 16;

    /// <summary>B6's streams through each passthrough proxy, each reading what the backend sends as fast as it can.</summary>
    public int PassthroughStreams { get; init; } = 8;

    /// <summary>B6's loops opening connections through each passthrough proxy one after another.</summary>
    public int PassthroughConcurrency { get; init; } = 16;

    /// <summary>The response body of the shared backend.</summary>
    public int BodyBytes { get; init; } = 1024;

    /// <summary>The CPUs every proxy under test is confined to (one core: the same budget for every peer).</summary>
    public string ProxyCpus { get; init; } = "0";

    /// <summary>The CPUs of the load generator, wrk and the backend.</summary>
    public string LoadCpus { get; init; } = "1";

    /// <summary>B7's changes, each timed from its apply in cluster 2 to the sidecar in cluster 1 serving it.</summary>
    public int ConvergenceChanges { get; init; } = 200;

    /// <summary>B8's services, registered in both clusters.</summary>
    public int ScaleServices { get; init; } = 5000;

    /// <summary>B8's endpoints per service, half of them in each cluster.</summary>
    public int ScaleEndpointsPerService { get; init; } = 10;

    /// <summary>B8's simulated sidecars on cluster 1's discovery stream.</summary>
    public int ScaleClients { get; init; } = 1000;

    /// <summary>B8's measured pushes, each caused by one new endpoint in cluster 2.</summary>
    public int ScalePushes { get; init; } = 25;

    /// <summary>B8's measured full pushes, each a change to every service (cluster 2's second gateway replica moves).</summary>
    public int ScaleFullPushes { get; init; } = 5;

    /// <summary>What B8's simulated sidecars accept: "br" (Brotli, else gzip: what real sidecars say), "gzip", or "none".</summary>
    public string ScaleCompression { get; init; } = "br";

    /// <summary>The peers to measure, by name (the no-proxy baseline, "direct", always is); null for all. For profiling one peer.</summary>
    public IReadOnlySet<string>? Peers { get; init; }

    /// <summary>The scenarios to run.</summary>
    public IReadOnlySet<string> Scenarios { get; init; } = new HashSet<string>(["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"], StringComparer.OrdinalIgnoreCase);

    public static BenchSettings Smoke { get; } = new() { Runs = 1, Seconds = 1, WarmupSeconds = 0.5, Rate = 200, Connections = 4, SaturationConnections = 8, ConvergenceChanges = 10, PassthroughStreams = 2, PassthroughConcurrency = 2, HandshakeConcurrency = 2, H2Connections = 2, H2Streams = 4, ScaleServices = 50, ScaleEndpointsPerService = 4, ScaleClients = 20, ScalePushes = 2, ScaleFullPushes = 1 };
}
