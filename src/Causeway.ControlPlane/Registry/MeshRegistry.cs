using System.Collections.Immutable;
using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;
using Microsoft.Extensions.Logging;

namespace Causeway.ControlPlane.Registry;

/// <summary>
/// Merges the local registry with every remote cluster named by a RemoteSecret into one <see cref="MeshSnapshot"/>,
/// replaced atomically on each change. It starts, restarts and stops remote watchers as remote secrets come and go.
/// </summary>
public sealed class MeshRegistry : IAsyncDisposable
{
    private readonly LocalRegistry _local;
    private readonly ControlPlaneOptions _options;
    private readonly Func<string> _trustBundle;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<ResourceKey, (string Json, RemoteClusterWatcher Watcher)> _watchers = [];
    private MeshSnapshot _current;
    private ChangeLog? _reconciled;
    private long _version;
    private bool _disposed;

    public MeshRegistry(LocalRegistry local, ControlPlaneOptions options, Func<string> trustBundle, ILoggerFactory loggers)
    {
        _local = local;
        _options = options;
        _trustBundle = trustBundle;
        _loggers = loggers;
        _logger = loggers.CreateLogger<MeshRegistry>();
        _current = new MeshSnapshot(0, LocalState(), ImmutableSortedDictionary<string, ClusterState>.Empty);
        _local.Changed += OnLocalChanged;
        ReconcileWatchers();
    }

    /// <summary>Raised after each new snapshot; handlers must be quick (the push scheduler only records the request).</summary>
    public event Action? Changed;

    public MeshSnapshot Current => Volatile.Read(ref _current);

    public async ValueTask DisposeAsync()
    {
        List<RemoteClusterWatcher> watchers;
        lock (_gate)
        {
            _disposed = true;
            _local.Changed -= OnLocalChanged;
            watchers = _watchers.Values.Select(w => w.Watcher).ToList();
            _watchers.Clear();
        }

        foreach (var w in watchers)
        {
            await w.DisposeAsync();
        }
    }

    private ClusterState LocalState()
    {
        var contents = _local.Contents;
        return new()
        {
            Cluster = _options.Cluster,
            Network = _options.Network,
            IsLocal = true,
            Synced = true,
            Resources = contents.Resources,
            Changes = contents.Changes,
            LastUpdate = DateTimeOffset.UtcNow,
        };
    }

    private void OnLocalChanged()
    {
        Update(s => s with { Local = LocalState() });
        ReconcileWatchers();
    }

    private void Update(Func<MeshSnapshot, MeshSnapshot> change)
    {
        lock (_gate)
        {
            Volatile.Write(ref _current, change(_current) with { Version = Interlocked.Increment(ref _version) });
        }

        Changed?.Invoke();
    }

    private void ReconcileWatchers()
    {
        var stopped = new List<RemoteClusterWatcher>();
        var started = new List<ClusterState>();
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            // Only a remote secret's change starts or stops a watcher; finding the secrets walks every local resource,
            // which for a pod coming or going (the commonest change) cost as much as the topology's own build.
            var contents = _local.Contents;
            var since = _reconciled;
            _reconciled = contents.Changes;
            if (contents.Changes.NoneSince(since, static k => k.Kind == ResourceKinds.RemoteSecret.Name))
            {
                return;
            }

            var secrets = contents.Resources.Values.Where(r => r.Kind == ResourceKinds.RemoteSecret.Name).ToDictionary(r => r.Key);
            foreach (var (key, entry) in _watchers.ToList())
            {
                if (!secrets.TryGetValue(key, out var secret) || ResourceDocuments.ToJson(secret) is var json && json != entry.Json)
                {
                    stopped.Add(entry.Watcher);
                    _watchers.Remove(key);
                }
            }

            foreach (var (key, secret) in secrets)
            {
                if (_watchers.ContainsKey(key))
                {
                    continue;
                }

                var spec = secret.SpecAs<RemoteSecretSpec>();
                if (spec.Cluster == _options.Cluster)
                {
                    _logger.LogError("remote secret {Secret} names this cluster ({Cluster}); it is ignored", key, spec.Cluster);
                    continue;
                }

                var watcher = new RemoteClusterWatcher(key.ToString(), spec, _options, _trustBundle, state => Update(s => s with { Remotes = s.Remotes.SetItem(state.Cluster, state) }), _loggers.CreateLogger<RemoteClusterWatcher>());
                _watchers[key] = (ResourceDocuments.ToJson(secret), watcher);
                started.Add(watcher.State);
                watcher.Start();
            }
        }

        // A new remote is in the snapshot from the start, not synced, so that nothing (the remote-sync gate above all)
        // takes a mesh without it for a complete one; a state the watcher published meanwhile is newer and stays.
        foreach (var state in started)
        {
            Update(s => s.Remotes.ContainsKey(state.Cluster) ? s : s with { Remotes = s.Remotes.SetItem(state.Cluster, state) });
        }

        if (stopped.Count > 0)
        {
            _ = StopAsync(stopped);
        }
    }

    private async Task StopAsync(List<RemoteClusterWatcher> stopped)
    {
        foreach (var watcher in stopped)
        {
            await watcher.DisposeAsync();
        }

        // Remote states whose secret is gone leave the mesh: removing a remote secret is how an operator unlinks a cluster.
        var wanted = _local.Current.Values.Where(r => r.Kind == ResourceKinds.RemoteSecret.Name).Select(r => r.SpecAs<RemoteSecretSpec>().Cluster).ToHashSet();
        Update(s => s with { Remotes = s.Remotes.RemoveRange(s.Remotes.Keys.Where(k => !wanted.Contains(k)).ToList()) });
    }
}
