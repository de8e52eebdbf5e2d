using System.CommandLine;
using Causeway.Cli.Output;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway proxy-config endpoints POD</c>: the endpoints a sidecar sees, as istioctl prints them, from its admin port.</summary>
public static class ProxyConfigCommand
{
    public static Command Create()
    {
        var ns = new Option<string>("--namespace", "-n") { Description = "The pod's namespace.", DefaultValueFactory = _ => "default" };
        var admin = new Option<string?>("--admin") { Description = "The proxy's admin address (host:15000), for proxies outside the lab." };
        var pod = new Argument<string?>("pod") { Description = "The lab pod (or its app name).", Arity = ArgumentArity.ZeroOrOne };
        var endpoints = new Command("endpoints", "Every endpoint the proxy may send to: address, health, weight, and whether it stands for a remote network's gateway.") { pod, ns, admin };
        endpoints.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var (address, netns) = parse.GetValue(admin) is { } given ? (given, null) : (parse.GetValue(pod) is { } p
                ? LabPodAdmin(parse.GetValue(CommandRunner.Context), parse.GetValue(ns)!, p)
                : throw new ArgumentException("name a lab pod, or give --admin HOST:15000"));
            using var http = Lab.LocalLab.Http(netns, TimeSpan.FromSeconds(5));
            string text;
            try
            {
                text = await http.GetStringAsync($"http://{address}/clusters");
            }
            catch (HttpRequestException e)
            {
                throw new Contexts.UnreachableException($"the proxy's admin port {address} is not reachable: {e.Message}");
            }

            // Envoy's /clusters lines: cluster::address::field::value.
            var rows = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("::")).Where(f => f.Length == 4)
                .GroupBy(f => (Cluster: f[0], Endpoint: f[1]), f => (Field: f[2], Value: f[3]));
            var table = new TextTable("ENDPOINT", "STATUS", "WEIGHT", "VIA GATEWAY", "NETWORK", "CLUSTER");
            foreach (var row in rows)
            {
                var fields = row.ToDictionary(f => f.Field, f => f.Value);
                table.Add(row.Key.Endpoint, fields.GetValueOrDefault("health_flags") == "healthy" ? "HEALTHY" : "UNHEALTHY", fields.GetValueOrDefault("weight"), fields.GetValueOrDefault("via_gateway"), fields.GetValueOrDefault("network"), row.Key.Cluster);
            }

            Console.Write(table);
            return ExitCodes.Ok;
        }));
        var command = new Command("proxy-config", "Show a proxy's configuration, as istioctl proxy-config does.");
        command.Subcommands.Add(endpoints);
        return command;
    }

    private static (string Address, string? Netns) LabPodAdmin(string? context, string ns, string pod)
    {
        var (lab, cluster) = LabCommand.Resolve(context);
        var found = lab.FindPod(cluster, ns, pod);
        return ($"{found.Address}:15000", found.Netns);
    }
}
