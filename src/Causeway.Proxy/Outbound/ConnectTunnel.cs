using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Causeway.Core.Naming;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.LoadBalancing;
using Causeway.Proxy.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// HTTP CONNECT on the outbound port: how an application behind an explicit proxy opens a TCP connection to a mesh
/// service (curl's -p, HTTPS_PROXY). The tunnel is balanced per connection and carried over mesh mTLS with ALPN
/// "istio", which the destination sidecar splices to the application as raw TCP.
/// </summary>
public sealed class ConnectTunnel(ProxyOptions options, ProxyConfigHolder config, MeshConnector connector, ProxyMetrics metrics, ILogger<ConnectTunnel> logger)
{
    public const string Listener = "outbound_connect";

    /// <summary>The longest CONNECT request head accepted (Envoy's max_request_headers_kb is 60).</summary>
    public const int MaxHeadBytes = 8 * 1024;

    private static readonly byte[] Method = "CONNECT "u8.ToArray();

    public Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var input = connection.Transport.Input;
        using var timeout = new CancellationTokenSource(options.ClientHelloTimeout);
        ReadResult result;
        try
        {
            result = await input.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            connection.Abort();
            return;
        }

        var isConnect = StartsWith(result.Buffer, Method);
        input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
        if (isConnect is not true)
        {
            await next(connection);
            return;
        }

        await TunnelAsync(connection, timeout.Token);
    };

    private async Task TunnelAsync(ConnectionContext connection, CancellationToken headTimeout)
    {
        var input = connection.Transport.Input;
        string? authority = null;
        while (authority is null)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(headTimeout);
            }
            catch (OperationCanceledException)
            {
                await RespondAsync(connection, "408 Request Timeout", "timeout");
                return;
            }

            var buffer = result.Buffer;
            var status = ConnectRequestHead.TryParse(buffer, MaxHeadBytes, out var parsed, out var length);
            if (status == ConnectHeadStatus.Incomplete && !result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            if (status != ConnectHeadStatus.Complete)
            {
                input.AdvanceTo(buffer.End);
                await RespondAsync(connection, "400 Bad Request", "bad_request");
                return;
            }

            input.AdvanceTo(buffer.GetPosition(length));
            authority = parsed;
        }

        var colon = authority.LastIndexOf(':');
        var snapshot = config.Current;
        var route = colon > 0 && uint.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && snapshot is not null && ServiceHostname.ToFqdn(authority[..colon], options.Namespace) is { } fqdn
            ? snapshot.Find(fqdn, port)
            : null;
        if (route is null)
        {
            await RespondAsync(connection, "404 Not Found", "unknown_service");
            return;
        }

        await CarryAsync(connection, route, authority, explicitConnect: true);
    }

    /// <summary>
    /// Carries a client's TCP connection to a mesh service: picks an endpoint (the next on a failed connect, up to
    /// the retry budget), opens mesh mTLS with ALPN "istio" and splices. An explicit CONNECT is answered with HTTP
    /// status lines; a captured connection is simply closed when no endpoint can be reached.
    /// </summary>
    public async Task CarryAsync(ConnectionContext connection, ServiceRoute route, string destination, bool explicitConnect)
    {
        var listener = explicitConnect ? Listener : TransparentOutbound.Listener;
        var sni = MeshSni.Format((int)route.Port, "", route.Hostname);
        UpstreamEndpoint? previous = null;
        for (var attempt = 0; attempt <= options.MaxRetries; attempt++)
        {
            var endpoint = route.Picker.Pick(previous);
            if (endpoint is null)
            {
                await FailAsync(connection, listener, explicitConnect, "503 Service Unavailable", "no_endpoint");
                return;
            }

            Stream upstream;
            try
            {
                upstream = endpoint.Plaintext
                    ? new System.Net.Sockets.NetworkStream(await connector.ConnectPlaintextAsync(endpoint.Address, (int)endpoint.Port, connection.ConnectionClosed), ownsSocket: true)
                    : await connector.ConnectAsync(new UpstreamTarget(endpoint.Address, endpoint.ViaGateway ? (int)endpoint.Port : options.InboundPort, sni), connection.ConnectionClosed);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
            {
                logger.LogWarning("TCP to {Destination} through {Endpoint} failed: {Error}", destination, endpoint, e.Message);
                ConnectFailures.Record(endpoint, options);
                previous = endpoint;
                continue;
            }

            endpoint.Succeeded();
            await using (upstream)
            {
                if (explicitConnect)
                {
                    await connection.Transport.Output.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray(), CancellationToken.None);
                }

                metrics.Connection(listener, "tunnelled");
                endpoint.RequestStarted();
                try
                {
                    var (received, sent) = await Splice.RunAsync(connection.Transport, upstream);
                    metrics.Bytes(received, sent);
                }
                finally
                {
                    endpoint.RequestEnded();
                }
            }

            return;
        }

        await FailAsync(connection, listener, explicitConnect, "502 Bad Gateway", "upstream_connect_failed");
    }

    private async Task FailAsync(ConnectionContext connection, string listener, bool explicitConnect, string status, string outcome)
    {
        if (explicitConnect)
        {
            await RespondAsync(connection, status, outcome);
            return;
        }

        metrics.Connection(listener, outcome);
        connection.Abort(new ConnectionAbortedException(outcome));
    }

    private async Task RespondAsync(ConnectionContext connection, string status, string outcome)
    {
        metrics.Connection(Listener, outcome);
        await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        await connection.Transport.Output.CompleteAsync();
    }

    private static bool? StartsWith(ReadOnlySequence<byte> buffer, byte[] prefix)
    {
        var n = (int)Math.Min(buffer.Length, prefix.Length);
        Span<byte> head = stackalloc byte[8];
        buffer.Slice(0, n).CopyTo(head);
        if (!head[..n].SequenceEqual(prefix.AsSpan(0, n)))
        {
            return false;
        }

        return n == prefix.Length ? true : null;
    }
}
