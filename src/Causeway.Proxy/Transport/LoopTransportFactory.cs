using System.Net;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Transport;

/// <summary>
/// Kestrel's transport for a sidecar's TCP listeners: connections on <see cref="EventLoop"/>s with readiness tracking,
/// in place of Kestrel's socket transport (which stays for anything that is not an IP endpoint). Linux on x86-64 only,
/// where the epoll calls and their event layout are the ones <see cref="EventLoop"/> declares.
/// </summary>
public sealed class LoopTransportFactory(LoopTransportOptions options) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>True where the loop transport can run.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) => endpoint is IPEndPoint ip
        ? new ValueTask<IConnectionListener>(new LoopConnectionListener(ip, options))
        : throw new NotSupportedException($"the loop transport binds IP endpoints only, not {endpoint}");
}
