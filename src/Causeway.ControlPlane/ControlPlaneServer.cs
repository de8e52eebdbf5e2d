using System.Net;
using System.Security.Authentication;
using System.Text.Json;
using Causeway.ControlPlane.Admin;
using Causeway.ControlPlane.Certificates;
using Causeway.ControlPlane.Discovery;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Security;
using Causeway.ControlPlane.Store;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Causeway.ControlPlane;

/// <summary>
/// A running control plane: the store and registries, the push scheduler, gRPC over TLS on the discovery endpoint
/// (discovery, certificates, registry) and plain HTTP on the monitoring endpoint. Start with <see cref="StartAsync"/>.
/// </summary>
public sealed class ControlPlaneServer : IAsyncDisposable
{
    /// <summary>The file in the data directory that tells operators and tools where this control plane listens.</summary>
    public const string EndpointsFile = "control-plane.json";

    /// <summary>The admin token the operator's CLI uses, written owner-only into the data directory.</summary>
    public const string AdminTokenFile = "admin-token";

    private readonly WebApplication _grpc;
    private readonly WebApplication _monitoring;
    private readonly ResourceStore _store;
    private readonly MeshRegistry _mesh;
    private readonly PushScheduler _scheduler;
    private readonly ClusterCa _ca;
    private readonly RemoteSyncGate _remoteSync;
    private readonly ILoggerFactory _loggers;
    private int _disposed;

    private ControlPlaneServer(WebApplication grpc, WebApplication monitoring, ResourceStore store, MeshRegistry mesh, PushScheduler scheduler, ClusterCa ca, RemoteSyncGate remoteSync, ILoggerFactory loggers, Uri discovery, Uri monitoringAddress)
    {
        _remoteSync = remoteSync;
        _grpc = grpc;
        _monitoring = monitoring;
        _store = store;
        _mesh = mesh;
        _scheduler = scheduler;
        _ca = ca;
        _loggers = loggers;
        DiscoveryAddress = discovery;
        MonitoringAddress = monitoringAddress;
    }

    public Uri DiscoveryAddress { get; }

    public Uri MonitoringAddress { get; }

    public static async Task<ControlPlaneServer> StartAsync(ControlPlaneOptions options, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.DataDirectory);
        var loggers = CreateLoggers();
        var logger = loggers.CreateLogger<ControlPlaneServer>();
        var store = ResourceStore.Open(options.DataDirectory);
        CheckDataDirectory(store, options);
        var ca = LoadCa(options, loggers.CreateLogger<ClusterCa>());
        var signing = ca.Current.Authority;
        var tokens = AccessTokens.LoadOrCreate(options.DataDirectory, options.Cluster);
        WriteAdminToken(options, tokens);

        var grpcBuilder = WebApplication.CreateSlimBuilder();
        ConfigureLogging(grpcBuilder);
        grpcBuilder.WebHost.UseKestrelHttpsConfiguration();
        var serving = signing.IssueServing(
            ["localhost", $"istiod.istio-system.svc", $"istiod-{options.Revision}.istio-system.svc"],
            ServingAddresses(options.DiscoveryEndpoint.Address),
            new SpiffeId(options.TrustDomain, "istio-system", "istiod"),
            TimeSpan.FromDays(365));
        grpcBuilder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = 20_000;
            k.Limits.Http2.MaxStreamsPerConnection = 1_000;
            k.Listen(options.DiscoveryEndpoint, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                l.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = serving,
                    // Clients trust only the mesh root, so the intermediate must travel with the leaf.
                    ServerCertificateChain = signing.Chain,
                    SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    HandshakeTimeout = TimeSpan.FromSeconds(10),
                });
            });
        });

        var local = new LocalRegistry(store, options.WatchQueueLimit, e => logger.LogError("unreadable stored resource: {Error}", e));
        var mesh = new MeshRegistry(local, options, () => ca.Current.TrustBundlePem, loggers);
        var scheduler = new PushScheduler(mesh, options);
        var proxies = new ConnectedProxies();
        scheduler.Pushed += proxies.OfferAll;
        var remoteSync = new RemoteSyncGate(mesh, scheduler, options.RemoteSyncTimeout);

        // A changed CA (a root rotation step) changes every proxy's trust bundle: push it.
        ca.Changed += scheduler.Request;
        ca.StartWatching(options.CaReloadInterval);
        var metrics = new ControlPlaneMetrics();

        var services = grpcBuilder.Services;
        services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = 16 * 1024 * 1024;
            o.EnableDetailedErrors = false;
        });
        services.AddSingleton(options);
        services.AddSingleton(ca);
        services.AddSingleton(tokens);
        services.AddSingleton(new CallerAuthentication(tokens));
        services.AddSingleton(local);
        services.AddSingleton(scheduler);
        services.AddSingleton(remoteSync);
        services.AddSingleton(proxies);
        services.AddSingleton(metrics);
        services.AddSingleton(new ProxyConfigBuilder(options, () => ca.Current.TrustBundlePem));
        services.AddSingleton(new PushThrottle(options));
        services.AddSingleton<DiscoveryService>();
        services.AddSingleton<CertificateService>();
        services.AddSingleton<RegistryService>();
        var grpc = grpcBuilder.Build();
        grpc.MapGrpcService<DiscoveryService>();
        grpc.MapGrpcService<CertificateService>();
        grpc.MapGrpcService<RegistryService>();

        var monitoringBuilder = WebApplication.CreateSlimBuilder();
        ConfigureLogging(monitoringBuilder);
        monitoringBuilder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = 1_000;
            k.Listen(options.MonitoringEndpoint, l => l.Protocols = HttpProtocols.Http1);
        });
        var monitoring = monitoringBuilder.Build();
        MonitoringEndpoints.Map(monitoring, options, mesh, scheduler, proxies, metrics, DateTimeOffset.UtcNow);

        await grpc.StartAsync(cancellationToken);
        await monitoring.StartAsync(cancellationToken);
        var discoveryAddress = new Uri(BoundAddress(grpc));
        var monitoringAddress = new Uri(BoundAddress(monitoring));
        // Written aside and renamed: whoever polls for the file (the lab, 'config set-context') must never read it half-written.
        var endpointsPath = Path.Combine(options.DataDirectory, EndpointsFile);
        await File.WriteAllTextAsync(endpointsPath + ".tmp", JsonSerializer.Serialize(new
        {
            cluster = options.Cluster,
            network = options.Network,
            meshId = options.MeshId,
            revision = options.Revision,
            discovery = discoveryAddress.ToString().TrimEnd('/'),
            monitoring = monitoringAddress.ToString().TrimEnd('/'),
            caDirectory = options.CaDirectoryOrDefault,
            pid = Environment.ProcessId,
        }), cancellationToken);
        File.Move(endpointsPath + ".tmp", endpointsPath, overwrite: true);
        logger.LogInformation("control plane for cluster {Cluster} (network {Network}, mesh {Mesh}, revision {Revision}) serving discovery on {Discovery} and monitoring on {Monitoring}; {Count} resources loaded",
            options.Cluster, options.Network, options.MeshId, options.Revision, discoveryAddress, monitoringAddress, local.Current.Count);
        return new ControlPlaneServer(grpc, monitoring, store, mesh, scheduler, ca, remoteSync, loggers, discoveryAddress, monitoringAddress);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _grpc.StopAsync(timeout.Token);
        await _monitoring.StopAsync();
        await _grpc.DisposeAsync();
        await _monitoring.DisposeAsync();
        _remoteSync.Dispose();
        await _scheduler.DisposeAsync();
        await _mesh.DisposeAsync();
        _store.Dispose();
        await _ca.DisposeAsync();
        _loggers.Dispose();
    }

    private static void CheckDataDirectory(ResourceStore store, ControlPlaneOptions options)
    {
        var cluster = store.GetMeta("cluster");
        if (cluster is not null && cluster != options.Cluster)
        {
            throw new InvalidOperationException($"the data directory {options.DataDirectory} belongs to cluster '{cluster}', not '{options.Cluster}'; use another --data-dir or --cluster {cluster}");
        }

        store.SetMeta("cluster", options.Cluster);
    }

    private static ClusterCa LoadCa(ControlPlaneOptions options, ILogger logger)
    {
        var directory = options.CaDirectoryOrDefault;
        if (CaDirectory.HasIntermediate(directory))
        {
            return ClusterCa.Load(directory, logger);
        }

        if (options.CaDirectory is not null)
        {
            throw new FileNotFoundException($"no cluster CA in {directory}: it needs {CaDirectory.CaCert}, {CaDirectory.CaKey}, {CaDirectory.CertChain} and {CaDirectory.RootCert}. Create them with 'causeway ca create-intermediate --cluster {options.Cluster} --root-dir ROOT_DIR --out {directory}'.");
        }

        // Istio self-signs when no cacerts are plugged in; such a cluster cannot join others, so say so.
        logger.LogWarning("no CA in {Directory}: creating a self-signed root for this cluster alone. To join a multi-cluster mesh every cluster needs an intermediate from one shared root (causeway ca create-root, causeway ca create-intermediate).", directory);
        using (var root = CertificateAuthority.CreateRoot())
        using (var intermediate = root.CreateIntermediate(options.Cluster))
        {
            CaDirectory.WriteIntermediate(intermediate, directory);
        }

        return ClusterCa.Load(directory, logger);
    }

    private static void WriteAdminToken(ControlPlaneOptions options, AccessTokens tokens)
    {
        var path = Path.Combine(options.DataDirectory, AdminTokenFile);
        if (File.Exists(path))
        {
            return;
        }

        OwnerOnlyFile.CreateNew(path, tokens.Issue(AccessGrant.Admin, TimeSpan.FromDays(3650)));
    }

    private static List<IPAddress> ServingAddresses(IPAddress bind)
    {
        var addresses = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        if (!bind.Equals(IPAddress.Any) && !bind.Equals(IPAddress.IPv6Any))
        {
            if (!addresses.Contains(bind))
            {
                addresses.Add(bind);
            }

            return addresses;
        }

        // Bound to every address (the network-namespace lab's control plane has a pod-network and a public leg):
        // the certificate names each address the host has now.
        foreach (var nic in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                if (!addresses.Contains(unicast.Address) && !unicast.Address.IsIPv6LinkLocal)
                {
                    addresses.Add(unicast.Address);
                }
            }
        }

        return addresses;
    }

    private static string BoundAddress(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    private static void ConfigureLogging(WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(ConsoleFormat);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
    }

    private static ILoggerFactory CreateLoggers() => LoggerFactory.Create(b => b.AddSimpleConsole(ConsoleFormat));

    /// <summary>One line per event, UTC timestamps: the same for both web hosts and the control plane's own loggers.</summary>
    private static void ConsoleFormat(Microsoft.Extensions.Logging.Console.SimpleConsoleFormatterOptions o)
    {
        o.SingleLine = true;
        o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        o.UseUtcTimestamp = true;
    }
}
