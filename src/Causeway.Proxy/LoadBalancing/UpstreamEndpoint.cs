namespace Causeway.Proxy.LoadBalancing;

/// <summary>
/// One place a request can go: an application's sidecar, an application with no sidecar (plaintext, as Istio's auto
/// mTLS does for endpoints labelled <c>security.istio.io/tlsMode=disabled</c>), or a remote network's east-west gateway. Its counters
/// (active requests, consecutive failures, ejection) outlive configuration updates, so that a push does not forget
/// what passive health checking learned.
/// </summary>
public sealed class UpstreamEndpoint(string address, uint port, uint weight, bool viaGateway, string cluster, string network, string workloadName, bool plaintext = false)
{
    private long _active;
    private int _consecutiveFailures;
    private long _ejectedUntilTicks;
    private long _ejections;

    public string Address { get; } = address;

    /// <summary>The application's port (direct) or the gateway's port (via a gateway).</summary>
    public uint Port { get; } = port;

    public uint Weight { get; } = weight;

    public bool ViaGateway { get; } = viaGateway;

    /// <summary>True when the endpoint has no sidecar: requests go to the application's port as they are, without mTLS.</summary>
    public bool Plaintext { get; } = plaintext;

    /// <summary>The endpoint's plain HTTP destination prefix, made once rather than per request.</summary>
    public string HttpPrefix { get; } = $"http://{address}:{port}";

    public string Cluster { get; } = cluster;

    public string Network { get; } = network;

    public string WorkloadName { get; } = workloadName;

    /// <summary>The clock of ejections, in ticks: monotonic, unaffected by wall-clock changes.</summary>
    public static long Now => Environment.TickCount64 * TimeSpan.TicksPerMillisecond;

    public long ActiveRequests => Interlocked.Read(ref _active);

    public long Ejections => Interlocked.Read(ref _ejections);

    public bool IsEjected(long nowTicks) => nowTicks < Interlocked.Read(ref _ejectedUntilTicks);

    public void RequestStarted() => Interlocked.Increment(ref _active);

    public void RequestEnded() => Interlocked.Decrement(ref _active);

    public void Succeeded() => Volatile.Write(ref _consecutiveFailures, 0);

    /// <summary>Records a failure; ejects the endpoint for base × ejections once <paramref name="threshold"/> failures are consecutive.</summary>
    public void Failed(int threshold, TimeSpan baseEjection, long nowTicks)
    {
        if (Interlocked.Increment(ref _consecutiveFailures) < threshold)
        {
            return;
        }

        Volatile.Write(ref _consecutiveFailures, 0);
        var n = Interlocked.Increment(ref _ejections);
        Interlocked.Exchange(ref _ejectedUntilTicks, nowTicks + (baseEjection.Ticks * Math.Min(n, 10)));
    }

    public override string ToString() => $"{Address}:{Port}";
}
