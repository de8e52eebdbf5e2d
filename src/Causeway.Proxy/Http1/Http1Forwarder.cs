using System.Net.Security;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Outbound;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Http1;

/// <summary>
/// The sidecar's direct HTTP/1.1 path: a connection middleware on the outbound (15001) and inbound (15006, after mTLS)
/// listeners that reads request heads itself and forwards HTTP/1.1 to HTTP/1.1 over pooled upstream connections,
/// copying heads and bodies as bytes instead of building a request object, a header dictionary and a forwarded
/// request for each one, or, on a mesh hop that is HTTP/2, as a stream of the HTTP/2 path's pooled connections
/// (<see cref="UpgradedRequestStream"/>). It keeps the behaviour of the Kestrel and forwarder path (routing, endpoint
/// picking, retries of requests that never reached an application, passive outlier detection, authorization, XFCC,
/// metrics) and hands the connection to Kestrel, at a request boundary, for anything else: HTTP/2, CONNECT, upgrades,
/// Expect, chunked request bodies, and every head that is malformed or needs normalising, which Kestrel then refuses or
/// forwards as before.
/// </summary>
public sealed class Http1Forwarder : IDisposable
{
    public Http1Forwarder(ProxyOptions options, ProxyConfigHolder config, MeshConnector connector, InboundConnection inbound, ProxyMetrics metrics, ILogger<Http1Forwarder> logger, Http2.Http2UpstreamPools? http2Pools = null)
    {
        Http2Pools = http2Pools;
        Options = options;
        Config = config;
        Connector = connector;
        InboundConnection = inbound;
        Metrics = metrics;
        Logger = logger;
        Limits = options.Http1;
        Pools = new UpstreamPools(Limits);
        Heartbeat = new Http1Heartbeat(Pools, TimeSpan.FromSeconds(1));
        AppAddress = options.AppAddressOrDefault.ToString();
        Principal = options.Identity.ToString();
    }

    internal ProxyOptions Options { get; }

    internal ProxyConfigHolder Config { get; }

    internal MeshConnector Connector { get; }

    internal InboundConnection InboundConnection { get; }

    internal ProxyMetrics Metrics { get; }

    internal ILogger Logger { get; }

    internal Http1Limits Limits { get; }

    internal UpstreamPools Pools { get; }

    /// <summary>The HTTP/2 path's upstream pools, shared with it, for mesh hops upgraded to HTTP/2; null without that path (such requests then go to Kestrel).</summary>
    internal Http2.Http2UpstreamPools? Http2Pools { get; }

    internal Http1Heartbeat Heartbeat { get; }

    internal string AppAddress { get; }

    internal string Principal { get; }

    /// <summary>A new HTTP/1.1 connection to an upstream: over mTLS to a mesh endpoint, plaintext (an SNI of "") to an application; on an event loop when the proxy runs them.</summary>
    internal async Task<UpstreamConnection> ConnectAsync(string address, int port, string sni, UpstreamConnectionPool pool)
    {
        if (Options.EventLoop)
        {
            var (socket, stream) = await Connector.ConnectOnLoopAsync(new UpstreamTarget(address, port, sni), CancellationToken.None);
            return new UpstreamConnection(socket, stream, pool);
        }

        if (sni.Length == 0)
        {
            var socket = await Connector.ConnectPlaintextAsync(address, port, CancellationToken.None);
            return new UpstreamConnection(socket, new System.Net.Sockets.NetworkStream(socket, ownsSocket: true), pool);
        }

        var (tcp, tls) = await Connector.ConnectHttp11Async(new UpstreamTarget(address, port, sni), CancellationToken.None);
        return new UpstreamConnection(tcp, tls, pool);
    }

    /// <summary>The middleware for the outbound listener, after CONNECT and h2c detection.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> Outbound => next => connection => ServeAsync(connection, next, inbound: false);

    /// <summary>The middleware for the inbound listener, after the mTLS handshake and the peer's checks.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> Inbound => next => connection => ServeAsync(connection, next, inbound: true);

    private async Task ServeAsync(ConnectionContext connection, ConnectionDelegate next, bool inbound)
    {
        // HTTP/2 (ALPN h2 on inbound, prior knowledge on outbound, both marked the same way) is Kestrel's.
        if (connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual(SslApplicationProtocol.Http2.Protocol.Span) == true)
        {
            await next(connection);
            return;
        }

        var listener = inbound ? InboundConnection.Listener : KestrelConnectionEnds.OutboundListener;
        Metrics.Connection(listener, "http1_direct");
        var client = new Http1ClientConnection(this, connection, inbound);
        bool handOver;
        Heartbeat.Add(client);
        try
        {
            handOver = await client.RunAsync();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The client or the upstream went away mid-request, or the heartbeat ended it: nothing can be answered any more.
            // (Kestrel's ConnectionResetException and ConnectionAbortedException are among these.) Anything else is a fault
            // of the proxy's, which Kestrel logs as it closes the connection.
            connection.Abort();
            handOver = false;
        }
        finally
        {
            Heartbeat.Remove(client);
            client.Dispose();
        }

        if (handOver)
        {
            Metrics.Connection(listener, "http1_to_kestrel");
            await next(connection);
        }
    }

    public void Dispose()
    {
        Heartbeat.Dispose();
        Pools.Dispose();
    }
}
