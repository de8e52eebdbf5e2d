using System.Net;
using System.Net.Sockets;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// The outbound listener's first step under transparent capture, as Envoy's virtual outbound listener: a connection
/// to a mesh service's virtual address goes on as HTTP when the port speaks HTTP (routed by Host, else by that
/// address), or is carried as mesh TCP; a connection to anything else passes through to its original destination
/// (Istio's default ALLOW_ANY outbound policy). Connections that were not redirected are explicit-proxy clients.
/// </summary>
public sealed class TransparentOutbound(ProxyOptions options, ProxyConfigHolder config, ConnectTunnel tunnel, ProxyMetrics metrics, ILogger<TransparentOutbound> logger)
{
    public const string Listener = "outbound_captured";

    private const string RouteItem = "causeway.original_route";

    public Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var original = OriginalDestination.Of(connection);
        if (original is null)
        {
            await next(connection);
            return;
        }

        var route = config.Current?.Find(original);
        if (route is null)
        {
            await PassthroughAsync(connection, original);
            return;
        }

        if (route.IsHttp)
        {
            metrics.Connection(Listener, "http");
            connection.Items[RouteItem] = route;
            await next(connection);
            return;
        }

        await tunnel.CarryAsync(connection, route, original.ToString(), explicitConnect: false);
    };

    /// <summary>The service a captured HTTP connection was headed for, when its Host names none.</summary>
    public static ServiceRoute? RouteOf(Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature? items) =>
        items?.Items.TryGetValue(RouteItem, out var r) == true ? r as ServiceRoute : null;

    private async Task PassthroughAsync(ConnectionContext connection, IPEndPoint original)
    {
        if (original.Port == options.OutboundPort && (IPAddress.IsLoopback(original.Address) || original.Address.Equals(options.Address)))
        {
            // Someone dialled the outbound port itself through the capture: carrying it would loop.
            metrics.Connection(Listener, "loop_refused");
            connection.Abort();
            return;
        }

        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
            timeout.CancelAfter(options.ConnectTimeout);
            await upstream.ConnectAsync(original, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            logger.LogInformation("passthrough to {Destination} failed: {Error}", original, e.Message);
            metrics.Connection(Listener, "passthrough_failed");
            connection.Abort();
            return;
        }

        metrics.Connection(Listener, "passthrough");
        var (received, sent) = await Splice.RunAsync(connection.Transport, upstream);
        metrics.Bytes(received, sent);
    }
}
