using System.CommandLine;

namespace Causeway.Proxy.Hosting;

/// <summary>
/// How long a command may take to stop after SIGTERM or Ctrl+C before the process exits anyway. System.CommandLine's
/// own bound is 2 s, which cut a proxy's drain (<see cref="ProxyOptions.DrainTime"/>, 5 s) short: a gateway stopped
/// with requests in flight through it exited at 2 s and broke them. Every command here bounds its own stop.
/// </summary>
public static class TerminationGrace
{
    /// <summary>Kubernetes' default terminationGracePeriodSeconds: the kubelet's SIGKILL comes then in any case.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    /// <summary>The invocation settings every <c>causeway</c> and <c>causeway-proxy</c> command line runs with.</summary>
    public static InvocationConfiguration Invocation() => new() { ProcessTerminationTimeout = Period };
}
