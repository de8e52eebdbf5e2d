using System.Net;
using Causeway.Api.V1;
using Causeway.Core.Identity;

namespace Causeway.Proxy;

/// <summary>A proxy's bootstrap and limits; each limit names its default and where it comes from.</summary>
public sealed record ProxyOptions
{
    public const int DefaultOutboundPort = 15001;
    public const int DefaultInboundPort = 15006;
    public const int DefaultAdminPort = 15000;
    public const int DefaultHealthPort = 15021;
    public const int DefaultGatewayPort = 15443;
    public const int DefaultDnsPort = 15053;

    /// <summary>The control plane's discovery address, e.g. https://127.0.1.1:15012.</summary>
    public required Uri ControlPlane { get; init; }

    /// <summary>The mesh root (PEM) that the control plane's serving certificate chains to.</summary>
    public required string RootCaPem { get; init; }

    /// <summary>The workload token that proves this proxy's namespace and service account.</summary>
    public required string Token { get; init; }

    public required string WorkloadName { get; init; }

    public required string Namespace { get; init; }

    public string ServiceAccount { get; init; } = "default";

    public required string Network { get; init; }

    public string Cluster { get; init; } = "";

    public string Revision { get; init; } = "default";

    public ProxyRole Role { get; init; } = ProxyRole.Sidecar;

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The pod's address: every listener binds it, so ports keep their real numbers on a shared host.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>Where the application listens; the pod's address unless said otherwise.</summary>
    public IPAddress? AppAddress { get; init; }

    public int OutboundPort { get; init; } = DefaultOutboundPort;

    public int InboundPort { get; init; } = DefaultInboundPort;

    public int AdminPort { get; init; } = DefaultAdminPort;

    public int HealthPort { get; init; } = DefaultHealthPort;

    public int GatewayPort { get; init; } = DefaultGatewayPort;

    /// <summary>
    /// Transparent capture, as in a pod whose iptables send outbound TCP to 15001 and inbound TCP to 15006 (what
    /// Istio's init container sets up): listeners bind every address, connections are routed by their original
    /// destination, and the DNS proxy answers mesh names. Without it, applications use the sidecar as an HTTP proxy.
    /// </summary>
    public bool Capture { get; init; }

    /// <summary>Where the DNS proxy listens (with capture); port 53 of the pod is redirected here.</summary>
    public IPAddress DnsAddress { get; init; } = IPAddress.Loopback;

    public int DnsPort { get; init; } = DefaultDnsPort;

    /// <summary>The resolver for names outside the mesh; none means NXDOMAIN for them.</summary>
    public IPEndPoint? DnsUpstream { get; init; }

    /// <summary>How long the DNS proxy waits for the upstream resolver (glibc's own timeout is 5 s).</summary>
    public TimeSpan DnsUpstreamTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Envoy's and Istio's default connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a gateway waits for a complete ClientHello: Kestrel's TLS handshake timeout (Envoy's listener filters wait 15 s).</summary>
    public TimeSpan ClientHelloTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest ClientHello a gateway buffers; post-quantum key shares make real ones about 2 KiB.</summary>
    public int MaxClientHelloBytes { get; init; } = 32 * 1024;

    /// <summary>Istio's default: 2 retries (3 tries) of requests that never reached an application.</summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>Consecutive connect failures or 5xx-free resets after which an endpoint is ejected (Istio's consecutive5xxErrors default is 5).</summary>
    public int OutlierConsecutiveFailures { get; init; } = 5;

    /// <summary>Istio's baseEjectionTime default.</summary>
    public TimeSpan OutlierBaseEjectionTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Envoy's max_connections analogue for each listener; Kestrel's default is unlimited.</summary>
    public long MaxConnections { get; init; } = 20_000;

    /// <summary>Connections the kernel queues for each listener before they are accepted (Kestrel's default, 512).</summary>
    public int ListenBacklog { get; init; } = 512;

    /// <summary>
    /// Runs Kestrel's connection work on the thread that completed the socket operation instead of the thread pool
    /// (Kestrel's UnsafePreferInlineScheduling); paired with the runtime's inline socket completions, which
    /// <c>causeway proxy</c> turns on. Off by default, as in Kestrel: a handler that blocks would stall other connections.
    /// </summary>
    public bool InlineScheduling { get; init; }

    /// <summary>
    /// Carries a sidecar's listeners and its direct path's upstream connections on Causeway's own epoll loops, which
    /// track each socket's readiness (<see cref="Transport.ReadinessSocket"/>), instead of .NET's socket engine under
    /// Kestrel, and a gateway's passthrough connections from accept to close (<see cref="Gateway.GatewayListener"/>). On
    /// by default where supported (Linux, x86-64); <c>CAUSEWAY_EVENT_LOOP=0</c> turns it off for <c>causeway proxy</c>.
    /// </summary>
    public bool EventLoop { get; init; } = Transport.LoopTransportFactory.IsSupported;

    /// <summary>
    /// Moves the east-west gateway's passthrough bytes with splice(2) (<see cref="Transport.LoopSplice"/>, HAProxy's
    /// <c>option splice-request</c>/<c>splice-response</c>) rather than copying them through the process; it needs the
    /// event loops. On by default; <c>CAUSEWAY_SPLICE=0</c> turns it off for <c>causeway proxy</c>, to compare.
    /// </summary>
    public bool ZeroCopySplice { get; init; } = true;

    /// <summary>
    /// How long an inbound connection's HTTP processing may go on after its transport closed before the proxy stops
    /// waiting for it and frees its connection slot: Kestrel can leave an HTTP/2 connection aborted amid a flood of stream
    /// resets waiting forever on streams that never end (dotnet/aspnetcore#51307). Handlers of a closed connection are
    /// cancelled and end well within it.
    /// </summary>
    public TimeSpan ClosedConnectionGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether the sidecar forwards plain HTTP/1.1 itself (<see cref="Http1.Http1Forwarder"/>) rather than through Kestrel
    /// and the forwarder; on by default, off only to compare the two (<c>CAUSEWAY_DIRECT_HTTP1=0</c> for <c>causeway proxy</c>).
    /// </summary>
    public bool DirectHttp1 { get; init; } = true;

    /// <summary>The limits of the direct HTTP/1.1 path.</summary>
    public Http1.Http1Limits Http1 { get; init; } = new();

    /// <summary>
    /// Whether the sidecar proxies HTTP/2 to HTTP/2 itself (<see cref="Http2.Http2Forwarder"/>): h2c from applications
    /// and mTLS HTTP/2 from peers for services whose application speaks HTTP/2, rather than through Kestrel's HTTP/2
    /// and the forwarder (<c>CAUSEWAY_DIRECT_HTTP2=0</c> for <c>causeway proxy</c> turns it off).
    /// </summary>
    public bool DirectHttp2 { get; init; } = true;

    /// <summary>The limits of the direct HTTP/2 path.</summary>
    public Http2.Http2Limits Http2 { get; init; } = new();

    /// <summary>Istio's terminationDrainDuration.</summary>
    public TimeSpan DrainTime { get; init; } = DefaultDrainTime;

    /// <summary>Istio's terminationDrainDuration default.</summary>
    public static readonly TimeSpan DefaultDrainTime = TimeSpan.FromSeconds(5);

    public IPAddress AppAddressOrDefault => AppAddress ?? Address;

    /// <summary>The identity this proxy's workload runs as (the default trust domain until the mesh says otherwise).</summary>
    public SpiffeId Identity => new(SpiffeId.DefaultTrustDomain, Namespace, ServiceAccount);

    public string Id => $"{WorkloadName}.{Namespace}";
}
