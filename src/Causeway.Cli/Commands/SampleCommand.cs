using System.CommandLine;
using System.Net;
using Causeway.Core.Hosting;
using Causeway.Samples;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway sample helloworld|sleep</c>: the seed's workloads, run as processes by the lab.</summary>
public static class SampleCommand
{
    public static Command Create()
    {
        var sample = new Command("sample", "Run one of the seed's sample workloads (the lab starts them).");
        var address = new Option<string>("--address") { Description = "The pod address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "The port.", DefaultValueFactory = _ => HelloWorld.DefaultPort };
        var version = new Option<string>("--version") { Description = "What /hello says as version (v1, v2).", DefaultValueFactory = _ => "v1" };
        var instance = new Option<string>("--instance") { Description = "What /hello says as instance (the pod name).", DefaultValueFactory = _ => Environment.MachineName };
        var hello = new Command("helloworld", "GET /hello answers 'Hello version: V, instance: I'; GET /health answers 'Helloworld is healthy'.") { address, port, version, instance };
        hello.SetAction(async (parse, cancellationToken) =>
        {
            if (!IPAddress.TryParse(parse.GetValue(address), out var ip))
            {
                return CommandRunner.Fail($"--address '{parse.GetValue(address)}' is not an IP address");
            }

            await using var app = await HelloWorld.StartAsync(ip, parse.GetValue(port), parse.GetValue(version)!, parse.GetValue(instance)!, cancellationToken);
            await WaitForStopAsync(cancellationToken);
            return ExitCodes.Ok;
        });
        sample.Subcommands.Add(hello);

        var sleep = new Command("sleep", "A workload that does nothing but exist: the client from which 'causeway exec' runs commands.");
        sleep.SetAction(async (_, cancellationToken) =>
        {
            await WaitForStopAsync(cancellationToken);
            return ExitCodes.Ok;
        });
        sample.Subcommands.Add(sleep);
        return sample;
    }

    private static async Task WaitForStopAsync(CancellationToken cancellationToken)
    {
        using var stop = new TerminationSignal(cancellationToken);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
