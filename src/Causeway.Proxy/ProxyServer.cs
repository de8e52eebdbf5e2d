using System.Net;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Discovery;
using Causeway.Proxy.Dns;
using Causeway.Proxy.Gateway;
using Causeway.Proxy.Hosting;
using Causeway.Proxy.Http1;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Outbound;
using Causeway.Proxy.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Causeway.Proxy;

/// <summary>
/// A running proxy. A sidecar listens on outbound 15001 (explicit HTTP proxy and h2c), inbound 15006 (mTLS),
/// admin 15000 and readiness 15021; a gateway on 15443 (SNI passthrough), admin and readiness. Both follow the
/// control plane's discovery stream; a sidecar also holds its workload certificate.
/// </summary>
public sealed class ProxyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ControlPlaneConnection _controlPlane;
    private readonly DiscoveryClient _discovery;
    private readonly WorkloadCertificates? _certificates;
    private readonly HttpMessageInvoker[] _clients;
    private readonly ILoggerFactory _loggers;
    private readonly TimeSpan _drainTime;
    private readonly DnsProxy? _dns;
    private readonly KestrelConnectionEnds _connectionEnds;
    private readonly Http1Forwarder? _http1;
    private readonly Http2.Http2Forwarder? _http2;
    private readonly GatewayListener? _gateway;

    private ProxyServer(ProxyOptions options, WebApplication app, ControlPlaneConnection controlPlane, DiscoveryClient discovery, WorkloadCertificates? certificates, ProxyMetrics metrics, ProxyConfigHolder config, HttpMessageInvoker[] clients, ILoggerFactory loggers, DnsProxy? dns, KestrelConnectionEnds connectionEnds, Http1Forwarder? http1, Http2.Http2Forwarder? http2, GatewayListener? gateway)
    {
        _gateway = gateway;
        _http1 = http1;
        _http2 = http2;
        _connectionEnds = connectionEnds;
        _dns = dns;
        _loggers = loggers;
        _drainTime = options.DrainTime;
        _app = app;
        _controlPlane = controlPlane;
        _discovery = discovery;
        _certificates = certificates;
        _clients = clients;
        Metrics = metrics;
        Config = config;
    }

    public ProxyMetrics Metrics { get; }

    /// <summary>The direct HTTP/2 path, when on (for tests' diagnosis).</summary>
    internal Http2.Http2Forwarder? Http2 => _http2;

    public ProxyConfigHolder Config { get; }

    public WorkloadCertificates? Certificates => _certificates;

    /// <summary>True while the discovery stream to the control plane is open.</summary>
    public bool ControlPlaneConnected => _discovery.Connected;

    /// <summary>One line per event, UTC timestamps: the same for the host's and the proxy's own loggers.</summary>
    private static void ConsoleFormat(Microsoft.Extensions.Logging.Console.SimpleConsoleFormatterOptions o)
    {
        o.SingleLine = true;
        o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        o.UseUtcTimestamp = true;
    }

    /// <summary>Connects to the control plane, gets a certificate (sidecars) and starts every listener of the role.</summary>
    public static async Task<ProxyServer> StartAsync(ProxyOptions options, CancellationToken cancellationToken = default)
    {
        // A sidecar's inbound TLS calls OpenSSL 3 itself: without it the first handshake would fail, so it fails here, saying why.
        if (options.Role == ProxyRole.Sidecar && Security.OpenSsl.LibSsl.Missing() is { } missing)
        {
            throw new InvalidOperationException(missing);
        }

        // Bare LF line ends enable request smuggling behind lenient parsers; Kestrel accepts them unless told not to.
        AppContext.SetSwitch("Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators", true);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(ConsoleFormat);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Yarp", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning);
        // Kestrel warns at start-up that plaintext Http1AndHttp2 means HTTP/1.1 only; H2cPriorKnowledge makes that untrue.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error);
        // While this category is enabled at any level, hosting starts an Activity and a log scope for every request (2% of
        // a sidecar's CPU in B1's profile); it logs nothing a proxy needs (Kestrel logs unhandled errors itself).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = options.InlineScheduling);
        if (options.EventLoop)
        {
            // Kestrel binds with the last transport registered that can: this one for every IP endpoint.
            builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory>(
                new Transport.LoopTransportFactory(new Transport.LoopTransportOptions { InlineScheduling = options.InlineScheduling, Backlog = options.ListenBacklog }));
        }

        builder.Services.AddHttpForwarder();

        var controlPlane = ControlPlaneConnection.Create(options.ControlPlane, options.RootCaPem, options.Token);
        var config = new ProxyConfigHolder();
        var metrics = new ProxyMetrics();
        var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(ConsoleFormat));
        var discovery = new DiscoveryClient(options, controlPlane, config, loggers.CreateLogger<DiscoveryClient>());
        discovery.Start();

        WorkloadCertificates? certificates = null;
        MeshTls? tls = null;
        if (options.Role == ProxyRole.Sidecar)
        {
            certificates = new WorkloadCertificates(options, controlPlane, loggers.CreateLogger<WorkloadCertificates>());
            await certificates.StartAsync(cancellationToken);
            tls = new MeshTls(certificates, config);
        }

        var targets = new UpstreamTargets();
        var connector = tls is null ? null : new MeshConnector(options, tls, targets);
        var tunnel = connector is null ? null : new ConnectTunnel(options, config, connector, metrics, loggers.CreateLogger<ConnectTunnel>());
        var transparent = tunnel is null || !options.Capture ? null : new TransparentOutbound(options, config, tunnel, metrics, loggers.CreateLogger<TransparentOutbound>());
        DnsProxy? dns = null;
        if (transparent is not null)
        {
            dns = new DnsProxy(options, config, metrics, loggers.CreateLogger<DnsProxy>());
            dns.Start();
        }

        var meshClient = connector is null ? null : new HttpMessageInvoker(new IdleCloseNoticeHandler(new SocketsHttpHandler
        {
            ConnectCallback = connector.ConnectAsync,
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            ActivityHeadersPropagator = null,
        }));
        var appClient = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            ActivityHeadersPropagator = null,
        });

        var inbound = tls is null ? null : new InboundConnection(options, config, tls, metrics);
        var inboundTls = certificates is null ? null : new MeshTlsServer(certificates, config, metrics, loggers.CreateLogger<MeshTlsServer>());
        // The direct paths share the HTTP/2 pools: an HTTP/1.1 client's request on an upgraded mesh hop rides the same
        // connections as HTTP/2 clients' streams, and a mesh stream for an HTTP/1.1 application the HTTP/1.1 pools.
        var http2Pools = inbound is null || connector is null || !options.DirectHttp2 ? null : Causeway.Proxy.Http2.Http2UpstreamPools.Connecting(connector, options.Http2);
        var http1 = inbound is null || connector is null || !options.DirectHttp1 ? null :
            new Http1Forwarder(options, config, connector, inbound, metrics, loggers.CreateLogger<Http1Forwarder>(), http2Pools);
        var http2 = http2Pools is null ? null :
            new Http2.Http2Forwarder(options, config, http2Pools, inbound!, metrics, loggers.CreateLogger<Http2.Http2Forwarder>(), http1);
        // Captured connections arrive at 127.0.0.1 (outbound) and at the pod's address (inbound).
        var address = options.Capture ? IPAddress.Any : options.Address;
        var connectionEnds = new KestrelConnectionEnds(metrics, address, options.InboundPort, options.OutboundPort, options.GatewayPort);
        var router = options.Role == ProxyRole.Gateway ? new SniRouter(options, config, metrics, loggers.CreateLogger<SniRouter>()) : null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // Mesh HTTP/2 says :scheme http over TLS that SocketsHttpHandler does not know about (the connector does it),
            // and h2c from applications arrives marked as negotiated; the scheme is not a security boundary here.
            k.AllowAlternateSchemes = true;
            k.Limits.MaxConcurrentConnections = options.MaxConnections;
            // Envoy's max_request_headers_kb (60) and max_headers_count (100).
            k.Limits.MaxRequestHeadersTotalSize = 60 * 1024;
            k.Limits.MaxRequestHeaderCount = 100;
            k.Listen(address, options.AdminPort, l => l.Protocols = HttpProtocols.Http1);
            k.Listen(address, options.HealthPort, l => l.Protocols = HttpProtocols.Http1);
            if (router is not null)
            {
                // On the event loops the gateway's own listener takes 15443 (below); Kestrel only where there are none.
                if (!options.EventLoop)
                {
                    k.Listen(address, options.GatewayPort, l => l.Run(router.OnConnectedAsync));
                }

                return;
            }

            k.Listen(address, options.OutboundPort, l =>
            {
                l.Protocols = HttpProtocols.Http1AndHttp2;
                l.Use(UnflowedConnections.Middleware);
                if (transparent is not null)
                {
                    l.Use(transparent.Middleware);
                }

                l.Use(tunnel!.Middleware);
                l.Use(H2cPriorKnowledge.Middleware);
                if (http2 is not null)
                {
                    l.Use(http2.Outbound);
                }

                if (http1 is not null)
                {
                    l.Use(http1.Outbound);
                }
            });
            k.Listen(address, options.InboundPort, l =>
            {
                l.Protocols = HttpProtocols.Http1AndHttp2;
                l.Use(UnflowedConnections.Middleware);
                l.Use(inbound!.PlaintextGuard);
                l.Use(inboundTls!.Middleware);
                l.Use(inbound.AfterTls);
                if (http2 is not null)
                {
                    l.Use(http2.Inbound);
                }

                if (http1 is not null)
                {
                    l.Use(http1.Inbound);
                }
            });
        });

        var app = builder.Build();
        var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
        var admin = new ProxyAdminEndpoints(options, config, discovery, certificates, metrics);
        var outbound = meshClient is null ? null : new OutboundForwarder(options, config, forwarder, meshClient, appClient, targets, metrics, loggers.CreateLogger<OutboundForwarder>());
        var inboundForwarder = inbound is null ? null : new InboundForwarder(options, config, inbound, forwarder, appClient, metrics);
        app.Run(context =>
        {
            var port = context.Connection.LocalPort;
            if (port == options.OutboundPort && outbound is not null)
            {
                return outbound.HandleAsync(context);
            }

            if (port == options.InboundPort && inboundForwarder is not null)
            {
                return inboundForwarder.HandleAsync(context);
            }

            return port == options.HealthPort ? admin.HandleHealthAsync(context) : admin.HandleAdminAsync(context);
        });

        // Listening on 15443 before the readiness port answers, so that ready means ready.
        var gateway = router is not null && options.EventLoop
            ? GatewayListener.Start(new IPEndPoint(address, options.GatewayPort), router, options, metrics, loggers.CreateLogger<GatewayListener>())
            : null;
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            throw;
        }

        return new ProxyServer(options, app, controlPlane, discovery, certificates, metrics, config, [.. new[] { meshClient, appClient }.OfType<HttpMessageInvoker>()], loggers, dns, connectionEnds, http1, http2, gateway);
    }

    /// <summary>Waits until the first configuration has been accepted.</summary>
    public Task WaitForConfigAsync(TimeSpan timeout) => Config.FirstAccepted.WaitAsync(timeout);

    /// <summary>Completes with the reason if the control plane refuses this proxy before its first configuration.</summary>
    public Task<string> Refused => _discovery.Refused;

    /// <summary>Stops listening and lets requests in flight finish for up to <see cref="ProxyOptions.DrainTime"/> (Istio's terminationDrainDuration).</summary>
    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(_drainTime);
        var gatewayStopped = _gateway?.StopAsync(timeout.Token) ?? Task.CompletedTask;
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await gatewayStopped;
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        await _app.DisposeAsync();
        _http1?.Dispose();
        _http2?.Dispose();
        await _discovery.DisposeAsync();
        if (_certificates is not null)
        {
            await _certificates.DisposeAsync();
        }

        foreach (var client in _clients)
        {
            client.Dispose();
        }

        if (_dns is not null)
        {
            await _dns.DisposeAsync();
        }

        _controlPlane.Dispose();
        _connectionEnds.Dispose();
        _loggers.Dispose();
    }
}
