using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Causeway.Core.Networking;

/// <summary>
/// Sockets inside a named Linux network namespace (<c>ip netns</c>), from a process that stays outside it: the thread
/// enters the namespace only for the socket(2) call and returns at once, and the socket keeps the namespace for its
/// life. This is how the CLI and the lab reach control planes and pods of the network-namespace lab. Needs root.
/// </summary>
public static partial class NetworkNamespace
{
    /// <summary>Where <c>ip netns add</c> keeps its namespaces.</summary>
    public const string Directory = "/run/netns";

    private const int CloneNewNet = 0x40000000;

    public static bool Exists(string name) => File.Exists(Path.Combine(Directory, name));

    /// <summary>A new socket that lives in namespace <paramref name="name"/>.</summary>
    public static Socket CreateSocket(string name, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        var path = Path.Combine(Directory, name);
        if (!File.Exists(path))
        {
            throw new IOException($"network namespace '{name}' does not exist (no {path}); was the lab removed?");
        }

        using var target = File.OpenHandle(path);
        using var original = File.OpenHandle("/proc/thread-self/ns/net");
        if (SetNs(target, CloneNewNet) != 0)
        {
            throw new IOException($"cannot enter network namespace '{name}' (errno {Marshal.GetLastPInvokeError()}); this needs root");
        }

        try
        {
            return new Socket(family, type, protocol);
        }
        finally
        {
            // A thread left in the lab's namespace would quietly send the thread pool's later work there.
            if (SetNs(original, CloneNewNet) != 0)
            {
                Environment.FailFast($"cannot return to the original network namespace (errno {Marshal.GetLastPInvokeError()})");
            }
        }
    }

    /// <summary>A TCP connection to <paramref name="endpoint"/> made from inside namespace <paramref name="name"/>.</summary>
    public static async Task<Socket> ConnectAsync(string name, IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = CreateSocket(name, endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(endpoint, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A SocketsHttpHandler connect callback that dials every (IP literal) host from inside namespace <paramref name="name"/>.</summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> HttpConnector(string name) => async (context, cancellationToken) =>
    {
        if (!IPAddress.TryParse(context.DnsEndPoint.Host.Trim('[', ']'), out var address))
        {
            throw new HttpRequestException($"'{context.DnsEndPoint.Host}' is not an IP address; inside namespace {name} only addresses are dialled");
        }

        var socket = await ConnectAsync(name, new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
        return new NetworkStream(socket, ownsSocket: true);
    };

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(SafeFileHandle fd, int nstype);
}
