using Grpc.Core;

namespace Causeway.ControlPlane.Discovery;

/// <summary>
/// Bounds how many configurations are being written to proxies at once (Istio's PILOT_PUSH_THROTTLE): a response is
/// held whole in the stream's buffers until the proxy has read it, so a thousand proxies pushed at once would each hold
/// a copy of the mesh; with the throttle at most <see cref="ControlPlaneOptions.MaxConcurrentPushes"/> do.
/// </summary>
public sealed class PushThrottle(ControlPlaneOptions options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(options.MaxConcurrentPushes, options.MaxConcurrentPushes);

    /// <summary>Writes <paramref name="response"/> once a slot is free, and holds the slot until the write has completed.</summary>
    public async Task WriteAsync<T>(IServerStreamWriter<T> stream, T response, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            await stream.WriteAsync(response, cancellationToken);
        }
        finally
        {
            _slots.Release();
        }
    }

    public void Dispose() => _slots.Dispose();
}
