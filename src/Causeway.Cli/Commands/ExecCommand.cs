using System.ComponentModel;
using System.CommandLine;
using System.Diagnostics;

namespace Causeway.Cli.Commands;

/// <summary>
/// <c>causeway exec -n NS WORKLOAD -- CMD...</c>: runs a command as the lab pod would. In a netns lab it runs inside
/// the pod's network namespace, where capture and mesh DNS make any client work unchanged; in the loopback lab its
/// HTTP goes through the pod's sidecar as http_proxy.
/// </summary>
public static class ExecCommand
{
    private static readonly string[] ProxyVariables = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

    public static Command Create()
    {
        var ns = new Option<string>("--namespace", "-n") { Description = "The pod's namespace.", DefaultValueFactory = _ => "default" };
        var container = new Option<string?>("--container", "-c") { Description = "Accepted for kubectl habits; a lab pod has one application." };
        var workload = new Argument<string>("pod") { Description = "The pod or its app name (e.g. sleep)." };
        var command = new Argument<string[]>("command") { Description = "The command and its arguments, after --.", Arity = ArgumentArity.OneOrMore };
        var exec = new Command("exec", "Run a command from a lab pod, so 'curl -sS helloworld.sample:5000/hello' works: inside the pod's network namespace (netns lab), or with http_proxy at its sidecar (loopback lab).") { ns, container, workload, command };
        exec.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var (lab, cluster) = LabCommand.Resolve(parse.GetValue(CommandRunner.Context));
            var pod = lab.FindPod(cluster, parse.GetValue(ns)!, parse.GetValue(workload)!);
            var args = parse.GetValue(command)!;
            var program = pod.Netns is null ? args : [.. Lab.NetworkFabric.Enter(pod.Netns), .. args];
            var info = new ProcessStartInfo(program[0]) { UseShellExecute = false };
            foreach (var a in program.Skip(1))
            {
                info.ArgumentList.Add(a);
            }

            var proxy = $"http://{pod.Address}:15001";
            foreach (var variable in ProxyVariables)
            {
                info.Environment.Remove(variable);
            }

            if (pod.Netns is null)
            {
                info.Environment["http_proxy"] = proxy;
                info.Environment["HTTP_PROXY"] = proxy;
            }

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
