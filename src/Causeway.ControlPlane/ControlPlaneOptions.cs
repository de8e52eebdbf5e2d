using System.Net;
using Causeway.Core.Identity;

namespace Causeway.ControlPlane;

/// <summary>Everything a control plane is started with; each limit names its default and where it comes from.</summary>
public sealed record ControlPlaneOptions
{
    /// <summary>Istio's port for discovery and certificate signing over TLS.</summary>
    public const int DefaultDiscoveryPort = 15012;

    /// <summary>Istio's port for istiod's metrics and debug pages.</summary>
    public const int DefaultMonitoringPort = 15014;

    public required string Cluster { get; init; }

    public required string Network { get; init; }

    public required string MeshId { get; init; }

    public string Revision { get; init; } = "default";

    public string TrustDomain { get; init; } = SpiffeId.DefaultTrustDomain;

    public required string DataDirectory { get; init; }

    /// <summary>Istio's cacerts layout; defaults to <c>&lt;data-dir&gt;/cacerts</c>.</summary>
    public string? CaDirectory { get; init; }

    public IPEndPoint DiscoveryEndpoint { get; init; } = new(IPAddress.Loopback, DefaultDiscoveryPort);

    public IPEndPoint MonitoringEndpoint { get; init; } = new(IPAddress.Loopback, DefaultMonitoringPort);

    /// <summary>Quiet time before a push: Istio's PILOT_DEBOUNCE_AFTER is 100 ms; half of it keeps cross-cluster convergence under 150 ms.</summary>
    public TimeSpan DebounceAfter { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Longest a push may be delayed by a steady stream of changes: Istio's PILOT_DEBOUNCE_MAX is 10 s; 1 s bounds staleness under churn.</summary>
    public TimeSpan DebounceMax { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Istio's default workload certificate TTL.</summary>
    public TimeSpan WorkloadCertificateLifetime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How long readiness waits for remote clusters to sync before reporting ready without them (Istio's PILOT_REMOTE_CLUSTER_TIMEOUT).</summary>
    public TimeSpan RemoteSyncTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the cacerts directory is checked for changes (istiod watches its plugged-in certificates the same way).</summary>
    public TimeSpan CaReloadInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest wait between attempts to reach a remote cluster.</summary>
    public TimeSpan RemoteRetryMax { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Events a registry watcher may fall behind by before it is closed and must re-watch (linkerd's bounded stream queue).</summary>
    public int WatchQueueLimit { get; init; } = 10_000;

    /// <summary>Configurations written to proxies at once: Istio's PILOT_PUSH_THROTTLE is 100. Each holds its response in the stream's buffers until the proxy has read it.</summary>
    public int MaxConcurrentPushes { get; init; } = 100;

    public string CaDirectoryOrDefault => CaDirectory ?? Path.Combine(DataDirectory, "cacerts");
}
