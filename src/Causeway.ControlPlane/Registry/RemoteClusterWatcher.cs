using Causeway.Core.Security;
using System.Collections.Immutable;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Resources;
using Causeway.Core.Retry;
using Causeway.Core.Resources.Specs;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Causeway.ControlPlane.Registry;

/// <summary>
/// Watches one remote cluster's registry through its remote secret. After each complete list the remote's state is
/// replaced whole; then live changes are applied one by one. When the remote cannot be reached its last state is
/// kept and marked stale (never replaced by "nothing"), and the watcher retries with capped exponential backoff.
/// </summary>
public sealed class RemoteClusterWatcher : IAsyncDisposable
{
    private readonly RemoteSecretSpec _secret;
    private readonly ControlPlaneOptions _local;
    private readonly Func<string> _localTrustBundle;
    private readonly Action<ClusterState> _publish;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;
    private ClusterState _state;

    public RemoteClusterWatcher(string secretName, RemoteSecretSpec secret, ControlPlaneOptions local, Func<string> localTrustBundle, Action<ClusterState> publish, ILogger logger)
    {
        _secret = secret;
        _local = local;
        _localTrustBundle = localTrustBundle;
        _publish = publish;
        _logger = logger;
        _state = new ClusterState { Cluster = secret.Cluster, Network = "", SecretName = secretName, Error = "connecting" };
    }

    /// <summary>The remote's state as last published (before the first: connecting, not synced).</summary>
    public ClusterState State => Volatile.Read(ref _state);

    public void Start() => _run = Task.Run(() => RunAsync(_stop.Token));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _run;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), _local.RemoteRetryMax);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await WatchOnceAsync(backoff, cancellationToken);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var reason = e is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : e.Message;
                _logger.LogWarning("remote cluster {Cluster} at {Address}: {Reason}; keeping its last endpoints and retrying in {Delay} ms",
                    _secret.Cluster, _secret.Address, reason, backoff.NextMilliseconds);
                Publish(_state with { Stale = _state.Synced, Error = reason });
            }

            await backoff.WaitAsync(cancellationToken);
        }
    }

    private async Task WatchOnceAsync(Backoff backoff, CancellationToken cancellationToken)
    {
        using var connection = ControlPlaneConnection.Create(new Uri(_secret.Address), _secret.CaBundle, _secret.Token);
        var info = await connection.Registry.ClusterInfoAsync(new ClusterInfoRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken);
        CheckCompatible(info);
        using var call = connection.Registry.Watch(new WatchRequest { Watcher = _local.Cluster }, cancellationToken: cancellationToken);
        var building = ImmutableDictionary.CreateBuilder<ResourceKey, Resource>();
        var synced = false;
        await foreach (var evt in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            if (evt.Type == WatchEvent.Types.EventType.Synced)
            {
                synced = true;
                backoff.Reset();
                Publish(new ClusterState
                {
                    Cluster = info.Cluster, Network = info.Network, SecretName = _state.SecretName,
                    Resources = building.ToImmutable(), Changes = ChangeLog.Start(), Synced = true, LastUpdate = DateTimeOffset.UtcNow,
                });
                _logger.LogInformation("remote cluster {Cluster} (network {Network}) synced: {Count} resources", info.Cluster, info.Network, building.Count);
                continue;
            }

            Resource resource;
            try
            {
                resource = WireDocuments.FromDocument(evt.Resource);
            }
            catch (InvalidResourceException e)
            {
                // A resource this version cannot read is skipped loudly; the rest of the remote still serves.
                _logger.LogError("remote cluster {Cluster} sent a resource this control plane cannot read: {Error}", info.Cluster, e.Message);
                continue;
            }

            if (!synced)
            {
                building[resource.Key] = resource;
                continue;
            }

            var resources = evt.Type == WatchEvent.Types.EventType.Deleted ? _state.Resources.Remove(resource.Key) : _state.Resources.SetItem(resource.Key, resource);
            Publish(_state with { Resources = resources, Changes = _state.Changes?.Append(resource.Key), LastUpdate = DateTimeOffset.UtcNow, Stale = false, Error = null });
        }

        throw new RpcException(new Status(StatusCode.Unavailable, "the remote closed the watch"));
    }

    private void CheckCompatible(ClusterInfoResponse info)
    {
        if (info.Cluster != _secret.Cluster)
        {
            throw new InvalidOperationException($"the remote secret names cluster '{_secret.Cluster}' but {_secret.Address} is cluster '{info.Cluster}'; recreate the remote secret");
        }

        if (info.MeshId != _local.MeshId)
        {
            throw new InvalidOperationException($"cluster '{info.Cluster}' is in mesh '{info.MeshId}', this control plane in '{_local.MeshId}'; start both with the same --mesh-id");
        }

        if (info.TrustDomain != _local.TrustDomain)
        {
            throw new InvalidOperationException($"cluster '{info.Cluster}' has trust domain '{info.TrustDomain}', this one '{_local.TrustDomain}'");
        }

        if (!MeshTrust.ShareARoot(_localTrustBundle(), info.RootPem))
        {
            throw new InvalidOperationException($"cluster '{info.Cluster}' uses another root CA; every cluster's intermediate must be signed by the same root (causeway ca create-intermediate)");
        }
    }

    private void Publish(ClusterState state)
    {
        _state = state;
        _publish(state);
    }
}
