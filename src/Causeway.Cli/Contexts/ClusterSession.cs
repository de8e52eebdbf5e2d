using System.Net.Http.Json;
using System.Text.Json;
using Causeway.Core.Client;
using Grpc.Core;

namespace Causeway.Cli.Contexts;

/// <summary>An open connection to the control plane of one context, with errors that say what to do.</summary>
public sealed class ClusterSession : IDisposable
{
    private ClusterSession(ContextEntry context, ControlPlaneConnection connection, string rootPem)
    {
        Context = context;
        Connection = connection;
        RootPem = rootPem;
    }

    public ContextEntry Context { get; }

    public ControlPlaneConnection Connection { get; }

    public string RootPem { get; }

    public static ClusterSession Open(string? contextName)
    {
        var context = CausewayConfig.Load().Resolve(contextName);
        if (!File.Exists(context.CaFile) || !File.Exists(context.TokenFile))
        {
            throw new InvalidOperationException($"context '{context.Name}' names files that are gone ({context.CaFile}, {context.TokenFile}); recreate it with 'causeway config set-context {context.Name} --data-dir DIR'");
        }

        var root = File.ReadAllText(context.CaFile);
        return new ClusterSession(context, ControlPlaneConnection.Create(new Uri(context.Server), root, File.ReadAllText(context.TokenFile).Trim(), networkNamespace: context.Netns), root);
    }

    /// <summary>Runs a call, turning an unreachable control plane into a clear message.</summary>
    public async Task<T> CallAsync<T>(Func<ControlPlaneConnection, Task<T>> call)
    {
        try
        {
            return await call(Connection);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable || (e.StatusCode == StatusCode.Internal && e.Status.DebugException is HttpRequestException))
        {
            throw new UnreachableException($"the control plane of context '{Context.Name}' is not reachable at {Context.Server}: {e.Status.Detail}. Is it running? (causeway control-plane, or causeway lab create)");
        }
    }

    /// <summary>A JSON debug page of the control plane's monitoring port (15014).</summary>
    public async Task<JsonElement> DebugAsync(string path)
    {
        if (Context.Monitoring is null)
        {
            throw new InvalidOperationException($"context '{Context.Name}' has no monitoring address; recreate it with --data-dir");
        }

        using var http = Lab.LocalLab.Http(Context.Netns, TimeSpan.FromSeconds(10));
        http.BaseAddress = new Uri(Context.Monitoring);
        try
        {
            return await http.GetFromJsonAsync<JsonElement>(path);
        }
        catch (HttpRequestException e)
        {
            throw new UnreachableException($"the control plane of context '{Context.Name}' is not reachable at {Context.Monitoring}: {e.Message}");
        }
    }

    public void Dispose() => Connection.Dispose();
}

/// <summary>A control plane that cannot be reached; the CLI exits with <see cref="ExitCodes.Unavailable"/>.</summary>
public sealed class UnreachableException(string message) : Exception(message);
