using System.CommandLine;
using System.Text.Json;
using Causeway.Api.V1;
using Causeway.Cli.Contexts;
using Causeway.Cli.Output;
using Causeway.Core.Client;
using Causeway.Core.Resources;

namespace Causeway.Cli.Commands;

/// <summary>The seed's multi-cluster steps: <c>create-mesh</c> (asmcli), <c>remote-clusters</c> and <c>proxy-status</c> (istioctl), <c>gen-eastwest-gateway</c>.</summary>
public static class MeshCommands
{
    public static Command CreateMesh()
    {
        var mesh = new Argument<string>("mesh") { Description = "The mesh ID every control plane was started with (the seed's FLEET_PROJECT_ID / proj-${PROJECT_NUMBER})." };
        var contexts = new Argument<string[]>("contexts") { Description = "Two or more contexts, one per cluster.", Arity = new ArgumentArity(2, 100) };
        var command = new Command("create-mesh", "Enable endpoint discovery between clusters: a remote secret of every cluster in every other (asmcli create-mesh).") { mesh, contexts };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var names = parse.GetValue(contexts)!;
            var sessions = names.Select(ClusterSession.Open).ToList();
            try
            {
                var infos = new List<ClusterInfoResponse>();
                foreach (var session in sessions)
                {
                    var info = await session.CallAsync(c => c.Registry.ClusterInfoAsync(new ClusterInfoRequest()).ResponseAsync);
                    if (info.MeshId != parse.GetValue(mesh))
                    {
                        throw new InvalidOperationException($"context '{session.Context.Name}' (cluster {info.Cluster}) is in mesh '{info.MeshId}', not '{parse.GetValue(mesh)}'; start its control plane with --mesh-id {parse.GetValue(mesh)}");
                    }

                    if (infos.FirstOrDefault(i => i.Cluster == info.Cluster) is not null)
                    {
                        throw new InvalidOperationException($"two contexts name the same cluster '{info.Cluster}'");
                    }

                    if (infos.Count > 0 && !Core.Security.MeshTrust.ShareARoot(infos[0].RootPem, info.RootPem))
                    {
                        throw new InvalidOperationException($"cluster {info.Cluster} has another root CA than {infos[0].Cluster}; every cluster needs an intermediate from one root (causeway ca create-intermediate)");
                    }

                    infos.Add(info);
                }

                for (var from = 0; from < sessions.Count; from++)
                {
                    var secret = await RemoteSecrets.CreateAsync(sessions[from].Connection, sessions[from].RootPem);
                    for (var to = 0; to < sessions.Count; to++)
                    {
                        if (to == from)
                        {
                            continue;
                        }

                        var request = new ApplyRequest();
                        request.Resources.Add(WireDocuments.ToDocument(secret));
                        var result = await sessions[to].CallAsync(c => c.Registry.ApplyAsync(request).ResponseAsync);
                        Console.WriteLine($"{infos[to].Cluster}: remote secret for {infos[from].Cluster} {result.Results[0].Outcome}");
                    }
                }

                Console.WriteLine($"Mesh {parse.GetValue(mesh)}: {string.Join(", ", infos.Select(i => $"{i.Cluster} ({i.Network})"))} discover each other's endpoints. Check with 'causeway remote-clusters --context CONTEXT'.");
                return ExitCodes.Ok;
            }
            finally
            {
                sessions.ForEach(s => s.Dispose());
            }
        }));
        return command;
    }

    public static Command RemoteClusters()
    {
        var command = new Command("remote-clusters", "Each cluster this control plane watches: synced, stale or failing, with endpoint counts.");
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            using var session = ClusterSession.Open(parse.GetValue(CommandRunner.Context));
            var clusters = await session.DebugAsync("/debug/clusterz");
            var table = new TextTable("NAME", "SECRET", "STATUS", "NETWORK", "ENDPOINTS", "LAST UPDATE", "ERROR");
            foreach (var c in clusters.EnumerateArray())
            {
                table.Add(c.GetProperty("cluster").GetString(), c.GetProperty("secret").GetString(), c.GetProperty("status").GetString(), c.GetProperty("network").GetString(),
                    c.GetProperty("endpoints").GetInt32(), c.GetProperty("ageSeconds").ValueKind == JsonValueKind.Number ? $"{c.GetProperty("ageSeconds").GetDouble():0.#}s ago" : "never",
                    c.GetProperty("error").GetString() ?? "");
            }

            Console.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command ProxyStatus()
    {
        var command = new Command("proxy-status", "Every proxy connected to this control plane: synced, stale, not acked or nacked.");
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            using var session = ClusterSession.Open(parse.GetValue(CommandRunner.Context));
            var proxies = await session.DebugAsync("/debug/syncz");
            var table = new TextTable("NAME", "ROLE", "NETWORK", "STATUS", "SENT", "ACKED", "ERROR");
            foreach (var p in proxies.EnumerateArray())
            {
                table.Add(p.GetProperty("proxy").GetString(), p.GetProperty("role").GetString(), p.GetProperty("network").GetString(), p.GetProperty("status").GetString(),
                    p.GetProperty("lastSentVersion").GetString(), p.GetProperty("lastAckedVersion").GetString(), p.GetProperty("lastNack").GetString() ?? "");
            }

            Console.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command GenEastWestGateway()
    {
        var mesh = new Option<string?>("--mesh") { Description = "The mesh ID (accepted, as Istio's script accepts it)." };
        var network = new Option<string>("--network") { Description = "The network this gateway serves.", Required = true };
        var revision = new Option<string>("--revision") { Description = "The control-plane revision.", DefaultValueFactory = _ => "default" };
        var command = new Command("gen-eastwest-gateway", "Print an east-west gateway manifest in the shape of Istio's gen-eastwest-gateway.sh.") { mesh, network, revision };
        command.SetAction(parse =>
        {
            Console.Write(Manifest(parse.GetValue(network)!, parse.GetValue(revision)!, parse.GetValue(mesh)));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The IstioOperator that Istio 1.13's gen-eastwest-gateway.sh prints, in the same shape.</summary>
    public static string Manifest(string network, string revision, string? mesh) => $"""
        apiVersion: install.istio.io/v1alpha1
        kind: IstioOperator
        metadata:
          name: eastwest
        spec:
          revision: "{revision}"
          profile: empty
          components:
            ingressGateways:
              - name: istio-eastwestgateway
                label:
                  istio: eastwestgateway
                  app: istio-eastwestgateway
                  topology.istio.io/network: {network}
                enabled: true
                k8s:
                  env:
                    # traffic through this gateway should be routed inside the network
                    - name: ISTIO_META_REQUESTED_NETWORK_VIEW
                      value: {network}
                  service:
                    ports:
                      - name: status-port
                        port: 15021
                        targetPort: 15021
                      - name: tls
                        port: 15443
                        targetPort: 15443
          values:
            global:
              network: {network}{(mesh is null ? "" : $"\n      meshID: {mesh}")}

        """;
}
