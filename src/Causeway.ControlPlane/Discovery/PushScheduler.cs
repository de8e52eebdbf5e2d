using System.Threading.Channels;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Topology;

namespace Causeway.ControlPlane.Discovery;

/// <summary>
/// Debounces registry changes into pushes, as istiod does: a push starts once changes have been quiet for
/// <see cref="ControlPlaneOptions.DebounceAfter"/>, or at the latest <see cref="ControlPlaneOptions.DebounceMax"/> after the
/// first of a burst; then one topology is built and offered to every connected proxy.
/// </summary>
public sealed class PushScheduler : IAsyncDisposable
{
    private readonly MeshRegistry _registry;
    private readonly ControlPlaneOptions _options;
    private readonly TimeProvider _time;
    private readonly Channel<bool> _requests = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private MeshTopology _current;
    private long _pushes;

    public PushScheduler(MeshRegistry registry, ControlPlaneOptions options, TimeProvider? time = null)
    {
        _registry = registry;
        _options = options;
        _time = time ?? TimeProvider.System;
        _current = MeshTopology.Build(registry.Current);
        registry.Changed += Request;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Raised with each new topology after a debounced burst.</summary>
    public event Action<MeshTopology>? Pushed;

    /// <summary>The newest topology; new proxies start from it.</summary>
    public MeshTopology Current => Volatile.Read(ref _current);

    /// <summary>How many debounced pushes have happened.</summary>
    public long Pushes => Interlocked.Read(ref _pushes);

    public void Request() => _requests.Writer.TryWrite(true);

    public async ValueTask DisposeAsync()
    {
        _registry.Changed -= Request;
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        while (await _requests.Reader.WaitToReadAsync(token))
        {
            _requests.Reader.TryRead(out _);
            var first = _time.GetUtcNow();
            var last = first;
            while (true)
            {
                var deadline = Min(last + _options.DebounceAfter, first + _options.DebounceMax);
                var wait = deadline - _time.GetUtcNow();
                if (wait <= TimeSpan.Zero)
                {
                    break;
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(wait);
                try
                {
                    await _requests.Reader.WaitToReadAsync(timeout.Token);
                    _requests.Reader.TryRead(out _);
                    last = _time.GetUtcNow();
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    break;
                }
            }

            var topology = MeshTopology.Build(_registry.Current, _current);
            Volatile.Write(ref _current, topology);
            Interlocked.Increment(ref _pushes);
            Pushed?.Invoke(topology);
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
