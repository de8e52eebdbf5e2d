using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Causeway.ControlPlane;
using Causeway.Core.Hosting;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway control-plane</c>: runs one cluster's control plane until SIGTERM or Ctrl+C.</summary>
public static class ControlPlaneCommand
{
    private static readonly Option<string> Cluster = new("--cluster") { Description = "This cluster's name, unique in the mesh (e.g. cluster1).", Required = true };
    private static readonly Option<string> Network = new("--network") { Description = "The network this cluster's workloads are on (the seed's NETWORK_1).", Required = true };
    private static readonly Option<string> MeshId = new("--mesh-id") { Description = "The mesh ID, the same in every cluster (the seed's proj-${PROJECT_NUMBER}).", Required = true };
    private static readonly Option<string> Revision = new("--revision") { Description = "The revision this control plane serves; proxies and namespaces labelled istio.io/rev must match.", DefaultValueFactory = _ => "default" };
    private static readonly Option<string> TrustDomain = new("--trust-domain") { Description = "The SPIFFE trust domain.", DefaultValueFactory = _ => "cluster.local" };
    private static readonly Option<string> DataDir = new("--data-dir") { Description = "Where the SQLite store, tokens and (by default) the cluster CA live.", Required = true };
    private static readonly Option<string?> CaDir = new("--ca-dir") { Description = "The cluster CA in Istio's cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem); default <data-dir>/cacerts." };
    private static readonly Option<string> Listen = new("--listen") { Description = "The address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
    private static readonly Option<int> DiscoveryPort = new("--discovery-port") { Description = "Discovery, certificates and registry (gRPC over TLS).", DefaultValueFactory = _ => ControlPlaneOptions.DefaultDiscoveryPort };
    private static readonly Option<int> MonitoringPort = new("--monitoring-port") { Description = "Metrics, readiness and debug pages (HTTP).", DefaultValueFactory = _ => ControlPlaneOptions.DefaultMonitoringPort };
    private static readonly Option<int> DebounceMs = new("--debounce-ms") { Description = "Quiet time before changes are pushed to proxies.", DefaultValueFactory = _ => 50 };
    private static readonly Option<string> RemoteSyncTimeout = new("--remote-sync-timeout") { Description = "How long readiness waits for remote clusters to sync before reporting ready without them (Istio's PILOT_REMOTE_CLUSTER_TIMEOUT), e.g. 30s.", DefaultValueFactory = _ => "30s" };

    public static Command Create()
    {
        var command = new Command("control-plane", "Run a cluster's control plane: registry, cross-cluster endpoint discovery, proxy discovery and the workload CA.");
        foreach (var option in new Option[] { Cluster, Network, MeshId, Revision, TrustDomain, DataDir, CaDir, Listen, DiscoveryPort, MonitoringPort, DebounceMs, RemoteSyncTimeout })
        {
            command.Options.Add(option);
        }

        command.SetAction(RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        if (!IPAddress.TryParse(parse.GetValue(Listen), out var address))
        {
            return CommandRunner.Fail($"--listen '{parse.GetValue(Listen)}' is not an IP address; use e.g. 127.0.0.1");
        }

        if (!Core.Resources.MeshDuration.TryParse(parse.GetValue(RemoteSyncTimeout)!, out var remoteSyncTimeout))
        {
            return CommandRunner.Fail($"--remote-sync-timeout '{parse.GetValue(RemoteSyncTimeout)}' is not a duration; write e.g. 30s or 500ms");
        }

        var options = new ControlPlaneOptions
        {
            Cluster = parse.GetValue(Cluster)!,
            Network = parse.GetValue(Network)!,
            MeshId = parse.GetValue(MeshId)!,
            Revision = parse.GetValue(Revision)!,
            TrustDomain = parse.GetValue(TrustDomain)!,
            DataDirectory = Path.GetFullPath(parse.GetValue(DataDir)!),
            CaDirectory = parse.GetValue(CaDir) is { } ca ? Path.GetFullPath(ca) : null,
            DiscoveryEndpoint = new IPEndPoint(address, parse.GetValue(DiscoveryPort)),
            MonitoringEndpoint = new IPEndPoint(address, parse.GetValue(MonitoringPort)),
            DebounceAfter = TimeSpan.FromMilliseconds(parse.GetValue(DebounceMs)),
            RemoteSyncTimeout = remoteSyncTimeout,
        };

        using var stop = new TerminationSignal(cancellationToken);
        ControlPlaneServer server;
        try
        {
            server = await ControlPlaneServer.StartAsync(options, stop.Token);
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            return CommandRunner.Fail($"cannot listen on {address}:{options.DiscoveryEndpoint.Port} or :{options.MonitoringEndpoint.Port}: the address is in use. Is another control plane running there? Choose another --listen address or port.");
        }
        catch (Exception e) when (e is InvalidOperationException or FileNotFoundException or IOException or UnauthorizedAccessException)
        {
            return CommandRunner.Fail(e.Message);
        }

        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await server.DisposeAsync();
        return ExitCodes.Ok;
    }

}
