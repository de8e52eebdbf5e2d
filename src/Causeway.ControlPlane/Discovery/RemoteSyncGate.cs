using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Topology;

namespace Causeway.ControlPlane.Discovery;

/// <summary>
/// Holds every proxy's first configuration until each remote cluster has synced once and a topology built from that
/// synced mesh exists, or until <see cref="ControlPlaneOptions.RemoteSyncTimeout"/> has passed since start. A control
/// plane that has just (re)started would otherwise push a mesh with the remote endpoints missing, and a proxy that had
/// kept serving through the restart would drop them (Istio gates on remote sync the same way). Once open it stays open.
/// </summary>
public sealed class RemoteSyncGate : IDisposable
{
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly MeshRegistry _mesh;
    private readonly PushScheduler _scheduler;
    private readonly ITimer _timeout;
    private long _syncedVersion = -1;

    public RemoteSyncGate(MeshRegistry mesh, PushScheduler scheduler, TimeSpan timeout, TimeProvider? time = null)
    {
        _mesh = mesh;
        _scheduler = scheduler;
        _mesh.Changed += OnMeshChanged;
        _scheduler.Pushed += OnPushed;
        _timeout = (time ?? TimeProvider.System).CreateTimer(_ => Open(), null, timeout, Timeout.InfiniteTimeSpan);
        OnMeshChanged();
    }

    public bool IsOpen => _open.Task.IsCompleted;

    /// <summary>Completes when proxies may be given their first configuration.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _open.Task.WaitAsync(cancellationToken);

    public void Dispose()
    {
        _mesh.Changed -= OnMeshChanged;
        _scheduler.Pushed -= OnPushed;
        _timeout.Dispose();
    }

    private void OnMeshChanged()
    {
        var snapshot = _mesh.Current;
        if (IsOpen || !snapshot.Remotes.Values.All(r => r.Synced))
        {
            return;
        }

        Interlocked.CompareExchange(ref _syncedVersion, snapshot.Version, -1);
        OnPushed(_scheduler.Current);
    }

    private void OnPushed(MeshTopology topology)
    {
        var synced = Interlocked.Read(ref _syncedVersion);
        if (synced >= 0 && topology.Version >= synced)
        {
            Open();
        }
    }

    private void Open()
    {
        if (_open.TrySetResult())
        {
            Dispose();
        }
    }
}
