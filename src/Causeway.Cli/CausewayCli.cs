using System.CommandLine;
using Causeway.Cli.Commands;
using Causeway.Proxy.Hosting;

namespace Causeway.Cli;

/// <summary>The causeway command tree; the demo runs its steps through this same tree.</summary>
public static class CausewayCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("Causeway: a multi-cluster, multi-network service mesh. One executable carries every role and every operator command.");
        root.Options.Add(CommandRunner.Context);
        foreach (var command in new[]
        {
            DemoCommand.Create(), DemoCommand.Verify(), ControlPlaneCommand.Create(), ProxyCommand.Create(), CaCommand.Create(), ConfigCommand.Create(),
            ResourceCommands.Apply(), ResourceCommands.Get(), ResourceCommands.Delete(), ResourceCommands.CreateNamespace(), ResourceCommands.LabelNamespace(),
            MeshCommands.CreateMesh(), MeshCommands.RemoteClusters(), MeshCommands.ProxyStatus(), ProxyConfigCommand.Create(), MeshCommands.GenEastWestGateway(),
            InstallCommand.Create(), LabCommand.Create(), ExecCommand.Create(), SampleCommand.Create(), CompletionCommand.Create(),
        })
        {
            root.Subcommands.Add(command);
        }

        return root;
    }
}
