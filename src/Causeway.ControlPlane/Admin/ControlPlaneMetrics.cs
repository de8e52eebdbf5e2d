namespace Causeway.ControlPlane.Admin;

/// <summary>Counters of the control plane's work, named as istiod names them where istiod has the metric.</summary>
public sealed class ControlPlaneMetrics
{
    private long _connected;
    private long _pushes;
    private long _incremental;
    private long _pushedBytes;
    private long _rejects;
    private long _csrs;
    private long _issued;
    private long _refused;

    public long ConnectedProxies => Interlocked.Read(ref _connected);

    public void ProxyConnected() => Interlocked.Increment(ref _connected);

    public void ProxyDisconnected() => Interlocked.Decrement(ref _connected);

    /// <summary>Counts one configuration sent to a proxy, of <paramref name="bytes"/> on the wire.</summary>
    public void Pushed(int bytes, bool incremental)
    {
        Interlocked.Increment(ref _pushes);
        Interlocked.Add(ref _pushedBytes, bytes);
        if (incremental)
        {
            Interlocked.Increment(ref _incremental);
        }
    }

    public void Rejected() => Interlocked.Increment(ref _rejects);

    public void CsrReceived() => Interlocked.Increment(ref _csrs);

    public void CertificateIssued() => Interlocked.Increment(ref _issued);

    public void CsrRefused() => Interlocked.Increment(ref _refused);

    /// <summary>Writes the counters in Prometheus text format.</summary>
    public void WriteTo(PrometheusWriter w)
    {
        w.Gauge("pilot_xds", "Proxies connected to this control plane.", ConnectedProxies);
        var pushes = Interlocked.Read(ref _pushes);
        var incremental = Interlocked.Read(ref _incremental);
        w.Counter("pilot_xds_pushes_total", "Configurations sent to proxies.", pushes);
        w.Counter("causeway_xds_pushes_total", "Configurations sent to proxies, by kind (complete, or incremental: the changed services only).", pushes - incremental, ("type", "complete"));
        w.Counter("causeway_xds_pushes_total", "Configurations sent to proxies, by kind (complete, or incremental: the changed services only).", incremental, ("type", "incremental"));
        w.Counter("causeway_xds_pushed_bytes_total", "Bytes of configuration sent to proxies (protobuf, before gRPC framing and TLS).", Interlocked.Read(ref _pushedBytes));
        w.Counter("pilot_total_xds_rejects", "Configurations proxies refused (NACK).", Interlocked.Read(ref _rejects));
        w.Counter("citadel_server_csr_count", "CSRs received.", Interlocked.Read(ref _csrs));
        w.Counter("citadel_server_success_cert_issuance_count", "Workload certificates issued.", Interlocked.Read(ref _issued));
        w.Counter("citadel_server_csr_refused_count", "CSRs refused (wrong identity, bad key or signature).", Interlocked.Read(ref _refused));
    }
}
