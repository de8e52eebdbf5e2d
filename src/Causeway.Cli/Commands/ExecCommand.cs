using System.ComponentModel;
using System.CommandLine;
using System.Diagnostics;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway exec -n NS WORKLOAD -- CMD...</c>: runs a command as the lab pod would, its HTTP going through the pod's sidecar.</summary>
public static class ExecCommand
{
    public static Command Create()
    {
        var ns = new Option<string>("--namespace", "-n") { Description = "The pod's namespace.", DefaultValueFactory = _ => "default" };
        var container = new Option<string?>("--container", "-c") { Description = "Accepted for kubectl habits; a lab pod has one application." };
        var workload = new Argument<string>("pod") { Description = "The pod or its app name (e.g. sleep)." };
        var command = new Argument<string[]>("command") { Description = "The command and its arguments, after --.", Arity = ArgumentArity.OneOrMore };
        var exec = new Command("exec", "Run a command from a lab pod: http_proxy points at the pod's sidecar, so 'curl -sS helloworld.sample:5000/hello' works.") { ns, container, workload, command };
        exec.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var (lab, cluster) = LabCommand.Resolve(parse.GetValue(CommandRunner.Context));
            var pod = lab.FindPod(cluster, parse.GetValue(ns)!, parse.GetValue(workload)!);
            var args = parse.GetValue(command)!;
            var info = new ProcessStartInfo(args[0]) { UseShellExecute = false };
            foreach (var a in args.Skip(1))
            {
                info.ArgumentList.Add(a);
            }

            var proxy = $"http://{pod.Address}:15001";
            info.Environment["http_proxy"] = proxy;
            info.Environment["HTTP_PROXY"] = proxy;
            info.Environment.Remove("no_proxy");
            info.Environment.Remove("NO_PROXY");
            try
            {
                using var process = Process.Start(info)!;
                await process.WaitForExitAsync();
                return process.ExitCode;
            }
            catch (Win32Exception)
            {
                throw new InvalidOperationException($"'{args[0]}' is not installed on this machine; install it, or point any HTTP client at the pod's sidecar with http_proxy={proxy}");
            }
        }));
        return exec;
    }
}
