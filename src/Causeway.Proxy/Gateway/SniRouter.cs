using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Causeway.Core.Naming;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.LoadBalancing;
using Causeway.Proxy.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Gateway;

/// <summary>
/// The east-west gateway's listener (15443): reads the ClientHello without terminating TLS, accepts only a mesh SNI
/// for a host a Gateway resource exposes with AUTO_PASSTHROUGH and a mesh ALPN, picks an endpoint of that service in
/// this network, and splices the still-encrypted bytes both ways. Everything else is closed with nothing forwarded,
/// and counted by reason.
/// </summary>
public sealed class SniRouter(ProxyOptions options, ProxyConfigHolder config, ProxyMetrics metrics, ILogger<SniRouter> logger) : ConnectionHandler
{
    public const string Listener = "gateway";

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var name = ArrayPool<byte>.Shared.Rent(ClientHelloParser.MaxServerName);
        try
        {
            await RouteAsync(connection, input, name);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(name);
        }
    }

    private async Task RouteAsync(ConnectionContext connection, PipeReader input, byte[] name)
    {
        ClientHelloInfo hello;
        // Not linked to ConnectionClosed: Kestrel fires it on the client's FIN, possibly before its last bytes are read.
        using (var timeout = new CancellationTokenSource(options.ClientHelloTimeout))
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await input.ReadAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    Refuse(connection, "hello_timeout", "no complete ClientHello in time");
                    return;
                }

                var status = ClientHelloParser.TryParse(result.Buffer, options.MaxClientHelloBytes, name, out hello, out var reason);
                if (status == ClientHelloStatus.Complete)
                {
                    // Keep every byte: the ClientHello goes upstream untouched.
                    input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
                    break;
                }

                if (status != ClientHelloStatus.Incomplete)
                {
                    Refuse(connection, status switch
                    {
                        ClientHelloStatus.NotTls => "not_tls",
                        ClientHelloStatus.TooLarge => "hello_too_large",
                        _ => "hello_malformed",
                    }, reason);
                    return;
                }

                if (result.IsCompleted)
                {
                    Refuse(connection, "hello_truncated", "the connection ended inside the ClientHello");
                    return;
                }

                input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        }

        if (!hello.HasServerName)
        {
            Refuse(connection, "no_sni", "the ClientHello names no host");
            return;
        }

        if (!TryReadSni(name.AsSpan(0, hello.ServerNameLength), out var sni))
        {
            Refuse(connection, "bad_sni", "the SNI is not a mesh SNI");
            return;
        }

        if (!hello.OffersMeshProtocol)
        {
            Refuse(connection, "no_mesh_alpn", "only mesh mTLS may cross networks");
            return;
        }

        var snapshot = config.Current;
        if (snapshot is null || !snapshot.Exposes(sni.Host, (uint)options.GatewayPort))
        {
            Refuse(connection, "not_exposed", $"no Gateway exposes {sni.Host}");
            return;
        }

        var route = snapshot.Find(sni.Host, (uint)sni.Port);
        if (route is null)
        {
            Refuse(connection, "no_endpoint", $"{sni.Host}:{sni.Port} has no endpoint in this network");
            return;
        }

        await ForwardAsync(connection, route);
    }

    private async Task ForwardAsync(ConnectionContext connection, ServiceRoute route)
    {
        // On an event loop the bytes move by splice(2) and never enter the process; elsewhere they are copied.
        var owned = options.ZeroCopySplice ? connection.Features.Get<IReadinessSocketFeature>() : null;
        UpstreamEndpoint? previous = null;
        for (var attempt = 0; attempt <= options.MaxRetries; attempt++)
        {
            var endpoint = route.Picker.Pick(previous);
            if (endpoint is null || endpoint.ViaGateway)
            {
                Refuse(connection, "no_endpoint", $"{route.Hostname}:{route.Port} has no endpoint in this network");
                return;
            }

            var target = new IPEndPoint(IPAddress.Parse(endpoint.Address), options.InboundPort);
            Socket? socket = null;
            ReadinessSocket? ready = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
                timeout.CancelAfter(options.ConnectTimeout);
                if (owned is not null)
                {
                    ready = await ReadinessSocket.ConnectAsync(target, owned.Loop, timeout.Token);
                }
                else
                {
                    socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(target, timeout.Token);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                socket?.Dispose();
                ConnectFailures.Record(endpoint, options);
                previous = endpoint;
                continue;
            }

            endpoint.Succeeded();
            metrics.Connection(Listener, "forwarded");
            endpoint.RequestStarted();
            try
            {
                var (received, sent) = ready is not null
                    ? await ZeroCopySplice.RunAsync(await owned!.StopReceivingAsync(), connection.Transport.Input, ready)
                    : await Splice.RunAsync(connection.Transport, socket!);
                metrics.Bytes(received, sent);
            }
            finally
            {
                endpoint.RequestEnded();
                ready?.Dispose();
                socket?.Dispose();
            }

            return;
        }

        Refuse(connection, "upstream_connect_failed", $"no endpoint of {route.Hostname} accepted a connection");
    }

    /// <summary>The parser checked the name is printable ASCII; widen it on the stack and parse the mesh form.</summary>
    private static bool TryReadSni(ReadOnlySpan<byte> name, out MeshSni sni)
    {
        Span<char> chars = stackalloc char[ClientHelloParser.MaxServerName];
        var length = System.Text.Encoding.ASCII.GetChars(name, chars);
        return MeshSni.TryParse(chars[..length], out sni);
    }

    private void Refuse(ConnectionContext connection, string outcome, string reason)
    {
        metrics.Connection(Listener, outcome);
        logger.LogDebug("gateway refused {Remote}: {Reason}", connection.RemoteEndPoint, reason);
        connection.Abort(new ConnectionAbortedException(reason));
    }
}
