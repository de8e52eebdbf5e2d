namespace Causeway.Proxy.LoadBalancing;

/// <summary>
/// Weighted round robin from a precomputed smooth schedule (nginx's algorithm), so equal weights strictly alternate
/// and a pick is one interlocked increment with no allocation and no lock.
/// </summary>
public sealed class RoundRobinPicker : EndpointPicker
{
    /// <summary>Weights are scaled down to keep the schedule at most this long.</summary>
    internal const int MaxScheduleLength = 4096;

    private readonly int[] _schedule;
    private int _next = -1;

    public RoundRobinPicker(UpstreamEndpoint[] endpoints)
        : base(endpoints) => _schedule = BuildSchedule(endpoints);

    public override UpstreamEndpoint? Pick(UpstreamEndpoint? exclude = null)
    {
        var schedule = _schedule;
        if (schedule.Length == 0)
        {
            return null;
        }

        var now = Now;
        UpstreamEndpoint? fallback = null;
        for (var i = 0; i < schedule.Length; i++)
        {
            var candidate = Endpoints[schedule[(int)((uint)Interlocked.Increment(ref _next) % (uint)schedule.Length)]];
            if (candidate == exclude && Endpoints.Length > 1)
            {
                continue;
            }

            if (!candidate.IsEjected(now))
            {
                return candidate;
            }

            fallback ??= candidate;
            if (i >= Endpoints.Length * 2)
            {
                break;
            }
        }

        return fallback ?? Fallback(exclude, now);
    }

    internal static int[] BuildSchedule(UpstreamEndpoint[] endpoints)
    {
        if (endpoints.Length == 0)
        {
            return [];
        }

        long total = 0;
        foreach (var e in endpoints)
        {
            total += Math.Max(1u, e.Weight);
        }

        var divisor = Math.Max(1, (total + MaxScheduleLength - 1) / MaxScheduleLength);
        var weights = new long[endpoints.Length];
        long sum = 0;
        for (var i = 0; i < endpoints.Length; i++)
        {
            weights[i] = Math.Max(1, Math.Max(1u, endpoints[i].Weight) / divisor);
            sum += weights[i];
        }

        var current = new long[endpoints.Length];
        var schedule = new int[sum];
        for (var s = 0; s < sum; s++)
        {
            var best = 0;
            for (var i = 0; i < endpoints.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }

            current[best] -= sum;
            schedule[s] = best;
        }

        return schedule;
    }
}
