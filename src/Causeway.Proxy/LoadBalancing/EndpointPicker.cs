namespace Causeway.Proxy.LoadBalancing;

/// <summary>
/// Picks an endpoint per request. Ejected endpoints are skipped unless every endpoint is ejected (Envoy's panic
/// mode: better to try a doubtful endpoint than to fail for certain).
/// </summary>
public abstract class EndpointPicker
{
    protected EndpointPicker(UpstreamEndpoint[] endpoints) => Endpoints = endpoints;

    public UpstreamEndpoint[] Endpoints { get; }

    /// <summary>The endpoint for the next request, avoiding <paramref name="exclude"/> (a previous try) when another exists; null when there is none.</summary>
    public abstract UpstreamEndpoint? Pick(UpstreamEndpoint? exclude = null);

    /// <summary>The picker a DestinationRule's <c>loadBalancer.simple</c> names; round robin by default.</summary>
    public static EndpointPicker Create(string policy, UpstreamEndpoint[] endpoints) => policy switch
    {
        "LEAST_REQUEST" => new LeastRequestPicker(endpoints),
        "RANDOM" => new RandomPicker(endpoints),
        _ => new RoundRobinPicker(endpoints),
    };

    protected static long Now => UpstreamEndpoint.Now;

    /// <summary>When sampling found nothing: a healthy endpoint other than <paramref name="exclude"/>, else any other, else any.</summary>
    protected UpstreamEndpoint Fallback(UpstreamEndpoint? exclude, long now)
    {
        var start = Random.Shared.Next(Endpoints.Length);
        UpstreamEndpoint? other = null;
        for (var i = 0; i < Endpoints.Length; i++)
        {
            var e = Endpoints[(start + i) % Endpoints.Length];
            if (e == exclude)
            {
                continue;
            }

            if (!e.IsEjected(now))
            {
                return e;
            }

            other ??= e;
        }

        return other ?? Endpoints[start];
    }
}
