using System.CommandLine;
using Causeway.Cli.Commands;

var root = new RootCommand("Causeway: a multi-cluster, multi-network service mesh. One executable carries every role and every operator command.");
root.Options.Add(CommandRunner.Context);
root.Subcommands.Add(ControlPlaneCommand.Create());
root.Subcommands.Add(ProxyCommand.Create());
root.Subcommands.Add(CaCommand.Create());
root.Subcommands.Add(ConfigCommand.Create());
root.Subcommands.Add(ResourceCommands.Apply());
root.Subcommands.Add(ResourceCommands.Get());
root.Subcommands.Add(ResourceCommands.Delete());
root.Subcommands.Add(ResourceCommands.CreateNamespace());
root.Subcommands.Add(ResourceCommands.LabelNamespace());
root.Subcommands.Add(MeshCommands.CreateMesh());
root.Subcommands.Add(MeshCommands.RemoteClusters());
root.Subcommands.Add(MeshCommands.ProxyStatus());
root.Subcommands.Add(MeshCommands.GenEastWestGateway());
return await root.Parse(args).InvokeAsync();
