using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Causeway.Proxy.Admin;

/// <summary>
/// The proxy's counters in the names Istio users know (<c>istio_requests_total</c>,
/// <c>istio_request_duration_milliseconds</c>), plus connection counters by outcome for listeners and the gateway.
/// </summary>
public sealed class ProxyMetrics
{
    /// <summary>Envoy's default histogram buckets for Istio's duration metric, in milliseconds.</summary>
    private static readonly double[] Buckets = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    private readonly ConcurrentDictionary<RequestKey, RequestStats> _requests = new();
    private readonly ConcurrentDictionary<(string Listener, string Outcome), long[]> _connections = new();
    private long _bytesIn;
    private long _bytesOut;

    /// <summary>Labels of one request series, as Istio's standard metrics carry them.</summary>
    public readonly record struct RequestKey(string Reporter, string SourceWorkload, string SourceNamespace, string SourcePrincipal, string DestinationService, string DestinationWorkload, string DestinationCluster, int ResponseCode);

    public void Request(in RequestKey key, double milliseconds)
    {
        var stats = _requests.GetOrAdd(key, _ => new RequestStats());
        stats.Record(milliseconds);
    }

    // The series a thread last recorded into, by the very objects that named it: a keep-alive connection repeats its
    // service, endpoint and status, and finding the series again by value hashes seven strings per request.
    [ThreadStatic]
    private static LastSeries? t_last;

    private sealed class LastSeries
    {
        public ProxyMetrics? Owner;
        public object? Principal;
        public object? Service;
        public object? Endpoint;
        public int Status;
        public bool Source;
        public RequestStats? Stats;
    }

    /// <summary>A request this sidecar sent out, as its caller's side reports it (Istio's reporter="source").</summary>
    public void SourceRequest(ProxyOptions options, string principal, string service, LoadBalancing.UpstreamEndpoint? endpoint, int status, long started)
    {
        var last = t_last;
        if (last is null || !last.Source || !ReferenceEquals(last.Owner, this) || !ReferenceEquals(last.Principal, principal) || !ReferenceEquals(last.Service, service) ||
            !ReferenceEquals(last.Endpoint, endpoint) || last.Status != status)
        {
            last = SourceSeries(options, principal, service, endpoint, status);
        }

        last.Stats!.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>A request this sidecar took in for its workload from <paramref name="principal"/> (Istio's reporter="destination").</summary>
    public void DestinationRequest(ProxyOptions options, string principal, string service, int status, long started)
    {
        var last = t_last;
        if (last is null || last.Source || !ReferenceEquals(last.Owner, this) || !ReferenceEquals(last.Principal, principal) || !ReferenceEquals(last.Service, service) || last.Status != status)
        {
            last = DestinationSeries(options, principal, service, status);
        }

        last.Stats!.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    // The series look-ups are kept out of line: inlined into the direct paths' async methods, whose callers record at
    // several places, their keys made those methods' frames kilobytes large, zeroed on every resumption.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private LastSeries SourceSeries(ProxyOptions options, string principal, string service, LoadBalancing.UpstreamEndpoint? endpoint, int status)
    {
        var last = t_last ??= new LastSeries();
        var key = new RequestKey("source", options.WorkloadName, options.Namespace, principal, service, endpoint?.WorkloadName ?? "", endpoint?.Cluster ?? "", status);
        (last.Owner, last.Source, last.Principal, last.Service, last.Endpoint, last.Status) = (this, true, principal, service, endpoint, status);
        last.Stats = _requests.GetOrAdd(key, _ => new RequestStats());
        return last;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private LastSeries DestinationSeries(ProxyOptions options, string principal, string service, int status)
    {
        var last = t_last ??= new LastSeries();
        var key = new RequestKey("destination", "", "", principal, service, options.WorkloadName, options.Cluster, status);
        (last.Owner, last.Source, last.Principal, last.Service, last.Endpoint, last.Status) = (this, false, principal, service, null, status);
        last.Stats = _requests.GetOrAdd(key, _ => new RequestStats());
        return last;
    }

    /// <summary>Counts a connection a listener handled or refused, with the reason (e.g. gateway: forwarded, not_tls, not_exposed).</summary>
    public void Connection(string listener, string outcome, long count = 1) =>
        Interlocked.Add(ref _connections.GetOrAdd((listener, outcome), _ => new long[1])[0], count);

    public long ConnectionCount(string listener, string outcome) =>
        _connections.TryGetValue((listener, outcome), out var c) ? Interlocked.Read(ref c[0]) : 0;

    public void Bytes(long received, long sent)
    {
        Interlocked.Add(ref _bytesIn, received);
        Interlocked.Add(ref _bytesOut, sent);
    }

    public long RequestCount(Func<RequestKey, bool> where) => _requests.Where(r => where(r.Key)).Sum(r => r.Value.Count);

    public string ToPrometheus()
    {
        var text = new StringBuilder();
        text.Append("# TYPE istio_requests_total counter\n");
        foreach (var (key, stats) in _requests.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal))
        {
            text.Append("istio_requests_total{").Append(Labels(key)).Append("} ").Append(stats.Count).Append('\n');
        }

        text.Append("# TYPE istio_request_duration_milliseconds histogram\n");
        foreach (var (key, stats) in _requests.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal))
        {
            var labels = Labels(key);
            long cumulative = 0;
            for (var i = 0; i < Buckets.Length; i++)
            {
                cumulative += Interlocked.Read(ref stats.Buckets[i]);
                text.Append("istio_request_duration_milliseconds_bucket{").Append(labels).Append(",le=\"").Append(Buckets[i].ToString(CultureInfo.InvariantCulture)).Append("\"} ").Append(cumulative).Append('\n');
            }

            text.Append("istio_request_duration_milliseconds_bucket{").Append(labels).Append(",le=\"+Inf\"} ").Append(stats.Count).Append('\n');
            text.Append("istio_request_duration_milliseconds_sum{").Append(labels).Append("} ").Append(stats.SumMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)).Append('\n');
            text.Append("istio_request_duration_milliseconds_count{").Append(labels).Append("} ").Append(stats.Count).Append('\n');
        }

        text.Append("# TYPE causeway_connections_total counter\n");
        foreach (var ((listener, outcome), count) in _connections.OrderBy(c => c.Key.Listener, StringComparer.Ordinal).ThenBy(c => c.Key.Outcome, StringComparer.Ordinal))
        {
            text.Append("causeway_connections_total{listener=\"").Append(listener).Append("\",outcome=\"").Append(outcome).Append("\"} ").Append(Interlocked.Read(ref count[0])).Append('\n');
        }

        text.Append("# TYPE causeway_proxied_bytes_total counter\n");
        text.Append("causeway_proxied_bytes_total{direction=\"received\"} ").Append(Interlocked.Read(ref _bytesIn)).Append('\n');
        text.Append("causeway_proxied_bytes_total{direction=\"sent\"} ").Append(Interlocked.Read(ref _bytesOut)).Append('\n');
        return text.ToString();
    }

    private static string Labels(RequestKey k) =>
        $"reporter=\"{k.Reporter}\",source_workload=\"{k.SourceWorkload}\",source_workload_namespace=\"{k.SourceNamespace}\",source_principal=\"{k.SourcePrincipal}\"," +
        $"destination_service=\"{k.DestinationService}\",destination_workload=\"{k.DestinationWorkload}\",destination_cluster=\"{k.DestinationCluster}\",response_code=\"{k.ResponseCode}\"";

    private sealed class RequestStats
    {
        public readonly long[] Buckets = new long[ProxyMetrics.Buckets.Length];
        private long _count;
        private long _sumMicros;

        public long Count => Interlocked.Read(ref _count);

        public double SumMilliseconds => Interlocked.Read(ref _sumMicros) / 1000.0;

        public void Record(double milliseconds)
        {
            Interlocked.Increment(ref _count);
            Interlocked.Add(ref _sumMicros, (long)(milliseconds * 1000));
            var i = Array.BinarySearch(ProxyMetrics.Buckets, milliseconds);
            i = i < 0 ? ~i : i;
            if (i < Buckets.Length)
            {
                Interlocked.Increment(ref Buckets[i]);
            }
        }
    }
}
