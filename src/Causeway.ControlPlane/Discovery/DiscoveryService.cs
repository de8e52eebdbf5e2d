using System.Security.Cryptography;
using Causeway.Api.V1;
using Causeway.ControlPlane.Admin;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Security;
using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Causeway.ControlPlane.Discovery;

/// <summary>
/// Serves the discovery stream of proxy/discovery.proto: checks the proxy's token against the identity it claims and
/// its revision, sends a complete configuration, then, whenever the topology changes what this proxy sees, the
/// services that changed (or a complete configuration after a NACK or when most changed), and records every ACK and NACK.
/// </summary>
public sealed class DiscoveryService(
    ControlPlaneOptions options,
    CallerAuthentication auth,
    PushScheduler scheduler,
    RemoteSyncGate remoteSync,
    ConnectedProxies proxies,
    LocalRegistry local,
    ProxyConfigBuilder builder,
    PushThrottle pushes,
    ControlPlaneMetrics metrics,
    IHostApplicationLifetime lifetime,
    ILogger<DiscoveryService> logger) : DiscoveryContract
{
    /// <summary>The namespace label that binds a namespace's workloads to one control-plane revision.</summary>
    public const string RevisionLabel = "istio.io/rev";

    public override async Task StreamConfig(IAsyncStreamReader<DiscoveryRequest> requestStream, IServerStreamWriter<EncodedDiscoveryResponse> responseStream, ServerCallContext context)
    {
        var grant = auth.Require(context, AccessGrant.Workload);
        var cancellation = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellation))
        {
            return;
        }

        var node = requestStream.Current.Node ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "the first request must carry the proxy's node"));
        CheckIdentity(node, grant);
        var compression = EncodedDiscoveryResponse.CompressionFor(node);
        var connection = new ProxyConnection(node, DateTimeOffset.UtcNow);
        var id = proxies.Add(connection);
        metrics.ProxyConnected();
        logger.LogInformation("proxy {Proxy} ({Namespace}/{Workload}, network {Network}, {Role}) connected", node.Id, node.Namespace, node.WorkloadName, node.Network, node.Role);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellation, lifetime.ApplicationStopping);
        try
        {
            if (!remoteSync.IsOpen)
            {
                logger.LogInformation("holding proxy {Proxy}'s first configuration until the remote clusters have synced", node.Id);
                await remoteSync.WaitAsync(done.Token);
            }

            connection.Offer(scheduler.Current);
            var reader = ReadAcksAsync(requestStream, connection, node, done);
            try
            {
                await foreach (var topology in connection.Pending.ReadAllAsync(done.Token))
                {
                    var view = builder.ServicesFor(topology, node);
                    var own = builder.BuildOwn(topology, node).ToByteArray();
                    var baseline = connection.Baseline;
                    var delta = baseline is null ? null : view.ChangesSince(baseline.View);
                    if (baseline is not null && delta!.IsEmpty && own.AsSpan().SequenceEqual(baseline.Own))
                    {
                        continue;
                    }

                    var version = topology.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

                    var response = baseline is not null && EncodedDiscoveryResponse.IncrementalIsSmaller(delta!, view, compression)
                        ? EncodedDiscoveryResponse.Incremental(version, nonce, baseline.Version, own, view, delta!)
                        : EncodedDiscoveryResponse.Complete(version, nonce, own, view, compression);

                    // Recorded before the write: the proxy's answer may be read before the write has completed.
                    connection.Baseline = new SentConfiguration(version, view, own);
                    connection.LastSentIncremental = response.IsIncremental;
                    connection.LastSentVersion = version;
                    connection.LastSentNonce = nonce;
                    connection.LastSentAt = DateTimeOffset.UtcNow;
                    await pushes.WriteAsync(responseStream, response, done.Token);
                    metrics.Pushed(response.Length, response.IsIncremental);
                }
            }
            catch (OperationCanceledException) when (done.IsCancellationRequested)
            {
            }

            await reader;
        }
        finally
        {
            proxies.Remove(id);
            metrics.ProxyDisconnected();
            logger.LogInformation("proxy {Proxy} disconnected", node.Id);
        }
    }

    private async Task ReadAcksAsync(IAsyncStreamReader<DiscoveryRequest> requests, ProxyConnection connection, ProxyNode node, CancellationTokenSource done)
    {
        try
        {
            while (await requests.MoveNext(done.Token))
            {
                var request = requests.Current;
                if (request.Node is not null && !request.Node.Equals(node))
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, "the node may not change during a stream"));
                }

                if (request.ResponseNonce != connection.LastSentNonce)
                {
                    // An answer to a response that a newer one has replaced: only the newest matters.
                    continue;
                }

                if (request.ErrorDetail.Length > 0)
                {
                    // The proxy kept an older configuration: nothing incremental can follow the one it refused.
                    connection.Baseline = null;
                    if (connection.LastSentIncremental)
                    {
                        connection.Offer(scheduler.Current);
                    }

                    connection.LastNack = request.ErrorDetail;
                    metrics.Rejected();
                    logger.LogWarning("proxy {Proxy} rejected version {Version}: {Error}", node.Id, request.VersionInfo, request.ErrorDetail);
                }
                else
                {
                    connection.LastNack = null;
                    connection.LastAckedVersion = request.VersionInfo;
                    connection.LastAckedAt = DateTimeOffset.UtcNow;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            await done.CancelAsync();
        }
    }

    private void CheckIdentity(ProxyNode node, AccessGrant grant)
    {
        if (node.Namespace != grant.Namespace || node.ServiceAccount != grant.ServiceAccount)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"the proxy claims {node.Namespace}/{node.ServiceAccount} but its token grants {grant.Namespace}/{grant.ServiceAccount}"));
        }

        var revision = node.Revision.Length == 0 ? "default" : node.Revision;
        if (revision != options.Revision)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"the proxy is of revision '{revision}' but this control plane serves revision '{options.Revision}'; start the proxy with --revision {options.Revision} or point it at the control plane of revision '{revision}'"));
        }

        if (local.Current.TryGetValue(new ResourceKey(ResourceKinds.Namespace.Name, "", node.Namespace), out var ns) &&
            ns.Label(RevisionLabel) is { } nsRevision && nsRevision != options.Revision)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"namespace '{node.Namespace}' is labelled {RevisionLabel}={nsRevision}, but this control plane serves revision '{options.Revision}'; relabel the namespace or use that revision's control plane"));
        }

        if (node.Network.Length > 0 && node.Network != options.Network && node.Role == ProxyRole.Gateway)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"the gateway says it is on network '{node.Network}' but this cluster's network is '{options.Network}'"));
        }
    }
}
