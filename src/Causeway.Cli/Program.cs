using System.CommandLine;
using Causeway.Cli.Commands;

var root = new RootCommand("Causeway: a multi-cluster, multi-network service mesh. One executable carries every role and every operator command.");
root.Subcommands.Add(ControlPlaneCommand.Create());
root.Subcommands.Add(CaCommand.Create());
root.Subcommands.Add(ProxyCommand.Create());
return await root.Parse(args).InvokeAsync();
