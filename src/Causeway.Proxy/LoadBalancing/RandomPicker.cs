namespace Causeway.Proxy.LoadBalancing;

/// <summary>Weighted random choice.</summary>
public sealed class RandomPicker(UpstreamEndpoint[] endpoints) : EndpointPicker(endpoints)
{
    private readonly long _total = endpoints.Sum(e => (long)Math.Max(1u, e.Weight));

    public override UpstreamEndpoint? Pick(UpstreamEndpoint? exclude = null)
    {
        if (Endpoints.Length == 0)
        {
            return null;
        }

        var now = Now;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var r = Random.Shared.NextInt64(_total);
            foreach (var e in Endpoints)
            {
                r -= Math.Max(1u, e.Weight);
                if (r < 0)
                {
                    if (e != exclude && !e.IsEjected(now))
                    {
                        return e;
                    }

                    break;
                }
            }
        }

        return Fallback(exclude, now);
    }
}
