using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Hosting;

/// <summary>
/// The first middleware of the sidecar's listeners: runs the rest of each connection without flowing the execution
/// context it was accepted in.
/// </summary>
/// <remarks>
/// Kestrel opens a logging scope for every connection, an AsyncLocal, so every await of the connection would capture
/// that context and restore it around each continuation (<c>ExecutionContext.RunInternal</c>: 0.78% of a B1 sidecar's
/// samples before this and the direct path's fewer async levels, 0.46% after). With the flow suppressed while the
/// connection starts, the awaits it reaches first capture nothing, and what follows runs in the event loop's own default
/// context, whose restore is the cheap case. What is lost is the connection id in the scope of the proxy's own log lines
/// about the connection, which name the service and endpoint instead.
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
