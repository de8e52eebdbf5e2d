using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Retry;
using Causeway.Proxy.Configuration;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Discovery;

/// <summary>
/// Follows the control plane's discovery stream (discovery.proto): every response, merged into the last accepted
/// configuration when it is incremental, is compiled and, if usable,
/// replaces the current snapshot and is ACKed; otherwise it is NACKed and the last good one keeps serving. When the
/// control plane goes away the proxy keeps serving and reconnects with backoff (100 ms doubling to 5 s).
/// </summary>
public sealed class DiscoveryClient(ProxyOptions options, ControlPlaneConnection controlPlane, ProxyConfigHolder holder, ILogger<DiscoveryClient> logger) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    /// <summary>True while a stream is open.</summary>
    public bool Connected { get; private set; }

    public string? LastError { get; private set; }

    /// <summary>Completes with the reason when the control plane refuses this proxy (identity, revision) before it was ever configured.</summary>
    public Task<string> Refused => _refused.Task;

    private readonly TaskCompletionSource<string> _refused = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    public async ValueTask DisposeAsync()
    {
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

    private ProxyNode Node()
    {
        var node = new ProxyNode
        {
            Id = options.Id,
            WorkloadName = options.WorkloadName,
            Namespace = options.Namespace,
            ServiceAccount = options.ServiceAccount,
            Network = options.Network,
            Revision = options.Revision,
            Role = options.Role,
            Cluster = options.Cluster,
            AcceptsCompressedConfig = true,
            AcceptedCompressions = { DiscoveryUpdates.Compressions },
        };
        foreach (var (k, v) in options.Labels)
        {
            node.Labels[k] = v;
        }

        if (options.Role == ProxyRole.Gateway)
        {
            // Istio's REQUESTED_NETWORK_VIEW: a gateway routes inside its own network only.
            node.RequestedNetworkView.Add(options.Network);
        }

        return node;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var updates = new DiscoveryUpdates();
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var call = controlPlane.Discovery.StreamConfig(cancellationToken: cancellationToken);
                await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = Node() }, cancellationToken);
                await foreach (var response in call.ResponseStream.ReadAllAsync(cancellationToken))
                {
                    Connected = true;
                    backoff.Reset();
                    var ack = new DiscoveryRequest { VersionInfo = response.VersionInfo, ResponseNonce = response.Nonce };

                    // With inline socket completions this runs on the epoll thread; a large configuration is compiled
                    // on the pool instead, so that traffic on other sockets is not held up meanwhile.
                    await Task.Yield();
                    try
                    {
                        var config = updates.Resolve(response);
                        var snapshot = ProxySnapshot.Compile(response.VersionInfo, config, holder.Current);
                        holder.Set(snapshot);
                        updates.Accepted(response.VersionInfo, config);
                        controlPlane.TrustAlso(snapshot.Roots);
                        LastError = null;
                    }
                    catch (InvalidDataException e)
                    {
                        ack.ErrorDetail = e.Message;
                        LastError = e.Message;
                        logger.LogError("refused configuration version {Version}: {Error}; keeping version {Current}", response.VersionInfo, e.Message, holder.Current?.Version ?? "none");
                    }

                    await call.RequestStream.WriteAsync(ack, cancellationToken);
                }

                throw new RpcException(new Status(StatusCode.Unavailable, "the control plane closed the stream"));
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Connected = false;
                LastError = e is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : e.Message;
                var permanent = e is RpcException { StatusCode: StatusCode.PermissionDenied or StatusCode.FailedPrecondition or StatusCode.Unauthenticated };
                if (permanent && holder.Current is null)
                {
                    _refused.TrySetResult(LastError);
                }
                logger.Log(permanent ? LogLevel.Error : LogLevel.Warning, "discovery stream to {ControlPlane}: {Error}; serving configuration {Version} and retrying in {Delay} ms",
                    options.ControlPlane, LastError, holder.Current?.Version ?? "none", backoff.NextMilliseconds);
            }

            await backoff.WaitAsync(cancellationToken);
        }
    }
}
