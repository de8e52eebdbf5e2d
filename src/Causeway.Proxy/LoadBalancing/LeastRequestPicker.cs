namespace Causeway.Proxy.LoadBalancing;

/// <summary>Envoy's least-request: of two endpoints chosen at random, the one with fewer active requests per unit of weight.</summary>
public sealed class LeastRequestPicker(UpstreamEndpoint[] endpoints) : EndpointPicker(endpoints)
{
    public override UpstreamEndpoint? Pick(UpstreamEndpoint? exclude = null)
    {
        var endpoints = Endpoints;
        if (endpoints.Length == 0)
        {
            return null;
        }

        if (endpoints.Length == 1)
        {
            return endpoints[0];
        }

        var now = Now;
        UpstreamEndpoint? best = null;
        for (var attempt = 0; attempt < 4 && best is null; attempt++)
        {
            var a = endpoints[Random.Shared.Next(endpoints.Length)];
            var b = endpoints[Random.Shared.Next(endpoints.Length)];
            var aOk = a != exclude && !a.IsEjected(now);
            var bOk = b != exclude && !b.IsEjected(now);
            best = (aOk, bOk) switch
            {
                (true, true) => (a.ActiveRequests + 1) * b.Weight <= (b.ActiveRequests + 1) * a.Weight ? a : b,
                (true, false) => a,
                (false, true) => b,
                _ => null,
            };
        }

        return best ?? Fallback(exclude, now);
    }
}
