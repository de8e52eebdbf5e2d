using System.CommandLine;
using Causeway.Cli.Contexts;
using Causeway.Cli.Output;
using Causeway.Lab;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway lab</c>: whole clusters on this machine, each pod on its own loopback address; no root needed.</summary>
public static class LabCommand
{
    public static readonly Option<string?> LabDir = new("--lab-dir") { Description = $"The lab's directory (default {LocalLab.DefaultDirectory} or $CAUSEWAY_LAB)." };

    public static readonly Option<string> Isolation = new("--isolation")
    {
        Description = "loopback: pods on 127.x addresses using their sidecar as HTTP proxy (no root). netns: every pod, control plane and gateway in a network namespace on its network's bridge, with transparent capture and mesh DNS (needs root).",
        DefaultValueFactory = _ => LocalLab.Loopback,
    };

    public static Command Create()
    {
        var lab = new Command("lab", "Run clusters on this machine: control planes, gateways and pods as background processes, each pod on its own 127.x.y.z address or (--isolation netns) in its own network namespace.");
        lab.Subcommands.Add(CreateCluster());
        lab.Subcommands.Add(Deploy());
        lab.Subcommands.Add(Status());
        lab.Subcommands.Add(Down());
        return lab;
    }

    private static Command CreateCluster()
    {
        var name = new Argument<string>("cluster") { Description = "The cluster's name, e.g. cluster1." };
        var network = new Option<string>("--network") { Description = "The cluster's network.", Required = true };
        var mesh = new Option<string>("--mesh-id") { Description = "The mesh ID.", DefaultValueFactory = _ => "proj-1234" };
        var revision = new Option<string>("--revision") { Description = "The control plane's revision.", DefaultValueFactory = _ => "default" };
        var command = new Command("create", "Create a cluster: its intermediate CA (from the lab's root), its control plane, and a context of the same name.") { name, network, mesh, revision, Isolation, LabDir };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var lab = LocalLab.Open(parse.GetValue(LabDir));
            var cluster = await lab.CreateClusterAsync(parse.GetValue(name)!, parse.GetValue(network)!, parse.GetValue(mesh)!, parse.GetValue(revision)!, parse.GetValue(Isolation)!);
            AddContext(lab, cluster.Name);
            Console.WriteLine($"cluster {cluster.Name} created: network {cluster.Network}, control plane {cluster.Server} (revision {cluster.Revision}), context \"{cluster.Name}\"");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Deploy()
    {
        var app = new Argument<string>("sample") { Description = "helloworld or sleep." };
        var version = new Option<string>("--version") { Description = "The version label (and what helloworld answers).", DefaultValueFactory = _ => "v1" };
        var ns = new Option<string>("--namespace", "-n") { Description = "The namespace.", DefaultValueFactory = _ => "default" };
        var command = new Command("deploy", "Start a pod of a sample in the context's cluster: the application, its sidecar, and its WorkloadEntry.") { app, version, ns };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var (lab, cluster) = Resolve(parse.GetValue(CommandRunner.Context));
            var pod = await lab.DeployAsync(cluster, parse.GetValue(app)!, parse.GetValue(version)!, parse.GetValue(ns)!);
            Console.WriteLine($"pod/{pod.Name} running in {cluster}/{pod.Namespace} at {pod.Address} (sidecar 15001/15006)");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Status()
    {
        var ns = new Option<string?>("--namespace", "-n") { Description = "Only this namespace." };
        var command = new Command("pods", "List the lab's processes (kubectl get pods): cluster, namespace, name, role, address, state.") { ns, LabDir };
        command.SetAction(parse => CommandRunner.RunAsync(() =>
        {
            var lab = LocalLab.Open(parse.GetValue(LabDir));
            var table = new TextTable("CLUSTER", "NAMESPACE", "NAME", "ROLE", "ADDRESS", "STATUS");
            foreach (var p in lab.State.Processes.Where(p => parse.GetValue(ns) is not { } n || p.Namespace == n))
            {
                table.Add(p.Cluster, p.Namespace, p.Name, p.Role, p.Address, LabProcesses.IsRunning(p.Pid) ? "Running" : "Stopped");
            }

            Console.Write(table);
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }

    private static Command Down()
    {
        var command = new Command("down", "Stop every process of the lab, remove its directory and its contexts.") { LabDir };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var lab = LocalLab.Open(parse.GetValue(LabDir));
            var clusters = await lab.DownAsync();
            var config = CausewayConfig.Load();
            config.Contexts.RemoveAll(c => c.LabDirectory == lab.Directory);
            if (config.CurrentContext is { } current && config.Contexts.All(c => c.Name != current))
            {
                config.CurrentContext = config.Contexts.FirstOrDefault()?.Name;
            }

            config.Save();
            Console.WriteLine($"lab {lab.Directory} removed ({(clusters.Count == 0 ? "it had no cluster" : "clusters " + string.Join(", ", clusters))})");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Writes the context for a lab cluster, current if none is.</summary>
    public static void AddContext(LocalLab lab, string cluster)
    {
        var config = CausewayConfig.Load();
        var entry = ConfigCommand.FromDataDirectory(cluster, lab.DataDirectory(cluster), lab.Directory);
        if (lab.Cluster(cluster) is { Netns: { } netns } c)
        {
            // The control plane listens on every address of its namespace; the CLI dials its public one from inside.
            entry = entry with { Server = c.Server, Monitoring = c.Monitoring, Netns = netns };
        }

        config.Upsert(entry);
        config.Save();
    }

    /// <summary>The lab and cluster behind a context; a clear error when the context is not a lab cluster.</summary>
    public static (LocalLab Lab, string Cluster) Resolve(string? contextName)
    {
        var context = CausewayConfig.Load().Resolve(contextName);
        if (context.LabDirectory is null)
        {
            throw new InvalidOperationException($"context '{context.Name}' is not a lab cluster; in universal mode start workloads and 'causeway proxy' yourself, or create one with 'causeway lab create'");
        }

        return (LocalLab.Open(context.LabDirectory), context.Cluster);
    }
}
