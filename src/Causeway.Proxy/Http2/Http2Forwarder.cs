using System.Collections.Concurrent;
using System.Net.Security;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.Outbound;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Http2;

/// <summary>
/// The sidecar's direct HTTP/2 path: a connection middleware on the outbound listener (h2c, after prior-knowledge
/// detection) and the inbound one (ALPN h2 after mTLS) that proxies HTTP/2 to HTTP/2 itself: frames are read into
/// pooled buffers, header blocks decoded once and re-encoded, bodies copied from one connection's read buffer into the
/// other's write buffer under flow control, with one send per batch of frames. On the inbound side an application
/// that speaks HTTP/1.1 gets each stream as an HTTP/1.1 request (<see cref="Http1ApplicationStream"/>). Routing,
/// endpoint picking, retries of requests that never reached an application, passive outlier detection,
/// authorization, XFCC and metrics are those of the Kestrel and forwarder path it replaces. Connections it does not
/// take (HTTP/1.1; inbound HTTP/2 for an HTTP/1.1 application when the direct HTTP/1.1 path is off) go on to the next
/// middleware.
/// </summary>
public sealed class Http2Forwarder : IDisposable
{
    private readonly ConcurrentDictionary<Http2ServerConnection, byte> _connections = new();
    private readonly Timer _heartbeat;

    public Http2Forwarder(ProxyOptions options, ProxyConfigHolder config, Http2UpstreamPools pools, InboundConnection inbound, ProxyMetrics metrics, ILogger<Http2Forwarder> logger, Http1.Http1Forwarder? http1 = null)
    {
        Http1 = http1;
        Options = options;
        Config = config;
        InboundConnection = inbound;
        Metrics = metrics;
        Logger = logger;
        Limits = options.Http2;
        AppAddress = options.AppAddressOrDefault.ToString();
        Principal = options.Identity.ToString();
        Pools = pools;
        _heartbeat = new Timer(static s => ((Http2Forwarder)s!).Beat(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    internal ProxyOptions Options { get; }

    internal ProxyConfigHolder Config { get; }

    internal InboundConnection InboundConnection { get; }

    internal ProxyMetrics Metrics { get; }

    internal ILogger Logger { get; }

    internal Http2Limits Limits { get; }

    internal Http2UpstreamPools Pools { get; }

    /// <summary>The HTTP/1.1 path, whose pools and connections carry mesh HTTP/2 streams on to applications that speak HTTP/1.1; without it those connections are Kestrel's.</summary>
    internal Http1.Http1Forwarder? Http1 { get; }

    internal string AppAddress { get; }

    internal string Principal { get; }

    /// <summary>The middleware for the outbound listener, after CONNECT and h2c detection.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> Outbound => next => async connection =>
    {
        if (!IsHttp2(connection))
        {
            await next(connection);
            return;
        }

        var items = connection.Features.Get<IConnectionItemsFeature>();
        await ServeAsync(connection, new Http2OutboundConnection(connection.Transport.Input.AsStream(), connection.Transport.Output.AsStream(), this, items), KestrelConnectionEnds.OutboundListener);
    };

    /// <summary>The middleware for the inbound listener, after the mTLS handshake and the peer's checks.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> Inbound => next => async connection =>
    {
        var items = connection.Features.Get<IConnectionItemsFeature>();
        if (!IsHttp2(connection) || InboundConnection.Sni(items) is not { } sni || Config.Current?.Find(sni.Host, (uint)sni.Port) is not { } route || (!route.IsHttp2 && Http1 is null))
        {
            await next(connection);
            return;
        }

        var peer = InboundConnection.Peer(items);
        await ServeAsync(connection, new Http2InboundConnection(connection.Transport.Input.AsStream(), connection.Transport.Output.AsStream(), this, sni, peer), InboundConnection.Listener);
    };

    /// <summary>HTTP/2: ALPN h2 on inbound, prior knowledge on outbound (which <see cref="H2cPriorKnowledge"/> marks the same way).</summary>
    private static bool IsHttp2(ConnectionContext connection) =>
        connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual(SslApplicationProtocol.Http2.Protocol.Span) == true;

    private async Task ServeAsync(ConnectionContext connection, Http2ServerConnection client, string listener)
    {
        Metrics.Connection(listener, "http2_direct");
        client.AbortTransport = connection.Abort;
        _connections.TryAdd(client, 0);
        // Kestrel asks connections to close when the proxy drains: GOAWAY, then close once the streams in flight end.
        using var drain = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested
            .Register(static s => ((Http2ServerConnection)s!).Drain(), client);
        try
        {
            await client.RunAsync();
            await client.Completion;
        }
        finally
        {
            _connections.TryRemove(client, out _);
            client.Dispose();
        }
    }

    /// <summary>Every connection's windows, queues and streams, for diagnosis.</summary>
    internal string Describe() =>
        string.Join('\n', _connections.Keys.Select(c => c.Describe())) + "\n" + Pools.Describe();

    private void Beat()
    {
        var now = Environment.TickCount64;
        var idleSince = now - (long)Limits.KeepAliveTimeout.TotalMilliseconds;
        var streamIdleSince = now - (long)Limits.StreamIdleTimeout.TotalMilliseconds;
        Http2Batch.Enter();
        try
        {
            foreach (var client in _connections.Keys)
            {
                if (client.StreamCount == 0 && client.LastActive < idleSince)
                {
                    client.Drain();
                }

                client.EndIdleStreams(streamIdleSince);
            }
        }
        finally
        {
            Http2Batch.Exit();
        }

        Pools.Sweep(now);
    }

    public void Dispose()
    {
        _heartbeat.Dispose();
        Pools.Dispose();
    }
}
