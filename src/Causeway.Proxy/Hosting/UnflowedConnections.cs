using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Hosting;

/// <summary>
/// The first middleware of the sidecar's listeners: runs the rest of each connection without flowing the execution
/// context it was accepted in.
/// </summary>
/// <remarks>
/// Kestrel opens a logging scope for every connection, an AsyncLocal, so every await of the connection would capture
/// that context and restore it around each continuation (<c>ExecutionContext.RunInternal</c>, about 1% of a B1 sidecar's
/// CPU). With the flow suppressed while the connection starts, its awaits capture nothing and continue on the thread's
/// own, empty context, as on the event loops' threads. What is lost is the connection id in the scope of the proxy's
/// own log lines about the connection, which name the service and endpoint instead.
/// </remarks>
public static class UnflowedConnections
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => connection =>
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return next(connection);
        }

        using (ExecutionContext.SuppressFlow())
        {
            return next(connection);
        }
    };
}
