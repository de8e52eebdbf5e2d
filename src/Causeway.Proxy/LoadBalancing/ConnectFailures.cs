namespace Causeway.Proxy.LoadBalancing;

/// <summary>Passive outlier detection as the proxy's options set it: a connection that could not be made counts toward ejecting its endpoint.</summary>
public static class ConnectFailures
{
    public static void Record(UpstreamEndpoint endpoint, ProxyOptions options) =>
        endpoint.Failed(options.OutlierConsecutiveFailures, options.OutlierBaseEjectionTime, UpstreamEndpoint.Now);
}
