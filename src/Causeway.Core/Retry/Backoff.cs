namespace Causeway.Core.Retry;

/// <summary>Capped exponential backoff between attempts to reach a peer: each wait doubles up to a maximum; success resets it.</summary>
public sealed class Backoff
{
    private readonly TimeSpan _initial;
    private readonly TimeSpan _max;
    private TimeSpan _next;

    public Backoff(TimeSpan initial, TimeSpan max)
    {
        _initial = initial;
        _max = max;
        _next = initial;
    }

    /// <summary>The wait before the coming attempt, in whole milliseconds for logs.</summary>
    public int NextMilliseconds => (int)_next.TotalMilliseconds;

    public void Reset() => _next = _initial;

    /// <summary>Waits, then doubles the next wait (up to the maximum).</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        var wait = _next;
        _next = TimeSpan.FromTicks(Math.Min(_next.Ticks * 2, _max.Ticks));
        await Task.Delay(wait, cancellationToken);
    }
}
