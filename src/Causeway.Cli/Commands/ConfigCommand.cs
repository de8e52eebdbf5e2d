using System.CommandLine;
using System.Text.Json;
using Causeway.Cli.Contexts;
using Causeway.Cli.Output;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway config</c>: the contexts the other commands use, like kubectl's.</summary>
public static class ConfigCommand
{
    public static Command Create()
    {
        var config = new Command("config", $"Contexts: which control plane each command talks to (kept in {CausewayConfig.DefaultPath} or $CAUSEWAY_CONFIG).");
        config.Subcommands.Add(GetContexts());
        config.Subcommands.Add(UseContext());
        config.Subcommands.Add(CurrentContext());
        config.Subcommands.Add(SetContext());
        return config;
    }

    private static Command GetContexts()
    {
        var command = new Command("get-contexts", "List the contexts.");
        command.SetAction(_ => CommandRunner.RunAsync(() =>
        {
            var cfg = CausewayConfig.Load();
            var table = new TextTable("CURRENT", "NAME", "CLUSTER", "SERVER");
            foreach (var c in cfg.Contexts.OrderBy(c => c.Name, StringComparer.Ordinal))
            {
                table.Add(c.Name == cfg.CurrentContext ? "*" : "", c.Name, c.Cluster, c.Server);
            }

            Console.Write(table);
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }

    private static Command UseContext()
    {
        var name = new Argument<string>("name") { Description = "The context to make current." };
        var command = new Command("use-context", "Make a context the current one.") { name };
        command.SetAction(parse => CommandRunner.RunAsync(() =>
        {
            var cfg = CausewayConfig.Load();
            cfg.CurrentContext = cfg.Resolve(parse.GetValue(name)).Name;
            cfg.Save();
            Console.WriteLine($"Switched to context \"{cfg.CurrentContext}\".");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }

    private static Command CurrentContext()
    {
        var command = new Command("current-context", "Print the current context.");
        command.SetAction(_ => CommandRunner.RunAsync(() =>
        {
            Console.WriteLine(CausewayConfig.Load().Resolve(null).Name);
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }

    private static Command SetContext()
    {
        var name = new Argument<string>("name") { Description = "The context's name." };
        var dataDir = new Option<string>("--data-dir") { Description = "A control plane's data directory: its address, admin token and CA are read from there.", Required = true };
        var use = new Option<bool>("--use") { Description = "Also make it the current context." };
        var command = new Command("set-context", "Add or replace a context from a control plane's data directory.") { name, dataDir, use };
        command.SetAction(parse => CommandRunner.RunAsync(() =>
        {
            var entry = FromDataDirectory(parse.GetValue(name)!, Path.GetFullPath(parse.GetValue(dataDir)!), labDirectory: null);
            var cfg = CausewayConfig.Load();
            cfg.Upsert(entry);
            if (parse.GetValue(use))
            {
                cfg.CurrentContext = entry.Name;
            }

            cfg.Save();
            Console.WriteLine($"Context \"{entry.Name}\" set: cluster {entry.Cluster} at {entry.Server}.");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }

    /// <summary>A context for the control plane whose data directory is <paramref name="dataDirectory"/>.</summary>
    public static ContextEntry FromDataDirectory(string name, string dataDirectory, string? labDirectory)
    {
        var endpoints = Path.Combine(dataDirectory, ControlPlane.ControlPlaneServer.EndpointsFile);
        if (!File.Exists(endpoints))
        {
            throw new InvalidOperationException($"{endpoints} does not exist: has a control plane run with --data-dir {dataDirectory}?");
        }

        using var doc = JsonDocument.Parse(File.ReadAllText(endpoints));
        var root = doc.RootElement;
        return new ContextEntry
        {
            Name = name,
            Cluster = root.GetProperty("cluster").GetString()!,
            Server = root.GetProperty("discovery").GetString()!,
            Monitoring = root.GetProperty("monitoring").GetString(),
            CaFile = Path.Combine(root.GetProperty("caDirectory").GetString()!, "root-cert.pem"),
            TokenFile = Path.Combine(dataDirectory, ControlPlane.ControlPlaneServer.AdminTokenFile),
            LabDirectory = labDirectory,
        };
    }
}
