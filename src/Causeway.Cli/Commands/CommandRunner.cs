using System.CommandLine;
using Causeway.Cli.Contexts;
using Causeway.Core.Resources;
using Grpc.Core;

namespace Causeway.Cli.Commands;

/// <summary>Runs an operator command and turns every expected failure into one clear line and an exit code.</summary>
public static class CommandRunner
{
    /// <summary>The context option every operator command accepts.</summary>
    public static readonly Option<string?> Context = new("--context") { Description = "The context to use (see 'causeway config get-contexts'); the current one by default.", Recursive = true };

    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (UnreachableException e)
        {
            Fail(e.Message);
            return ExitCodes.Unavailable;
        }
        catch (InvalidResourceException e)
        {
            return Fail(e.Message);
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine($"error: {e.Status.Detail} ({e.StatusCode})");
            return e.StatusCode == StatusCode.Unavailable ? ExitCodes.Unavailable : ExitCodes.Failed;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException or FormatException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            return Fail(e.Message);
        }
    }

    /// <summary>Prints one error line and returns the failure exit code.</summary>
    public static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + message);
        return ExitCodes.Failed;
    }

    /// <summary>Reads a file, or standard input for "-".</summary>
    public static async Task<string> ReadInputAsync(string path) =>
        path == "-" ? await Console.In.ReadToEndAsync() : File.Exists(path) ? await File.ReadAllTextAsync(path) : throw new FileNotFoundException($"{path} does not exist");

    /// <summary>kubectl's name for a resource in messages, e.g. <c>gateway.networking.istio.io/cross-network-gateway</c>.</summary>
    public static string Display(string kind, string name)
    {
        var k = ResourceKinds.Find(kind);
        return k is null || k.Group.Length == 0 ? $"{kind.ToLowerInvariant()}/{name}" : $"{kind.ToLowerInvariant()}.{k.Group}/{name}";
    }
}
