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
/// The east-west gateway's routing (15443): reads the ClientHello without terminating TLS, accepts only a mesh SNI for a
/// host a Gateway resource exposes with AUTO_PASSTHROUGH and a mesh ALPN, picks an endpoint of that service in this
/// network, and splices the still-encrypted bytes both ways. Everything else is closed with nothing forwarded, and
/// counted by reason. Connections come from the <see cref="GatewayListener"/> on the event loops, or from Kestrel where
/// there are none.
/// </summary>
public sealed class SniRouter(ProxyOptions options, ProxyConfigHolder config, ProxyMetrics metrics, ILogger<SniRouter> logger) : ConnectionHandler
{
    public const string Listener = "gateway";

    /// <summary>What a ClientHello is read into first: a mesh sidecar's is about 500 bytes; a larger one grows the buffer.</summary>
    private const int HelloBufferBytes = 2048;

    /// <summary>What the ClientHello's records may add to <see cref="ProxyOptions.MaxClientHelloBytes"/> (as many headers as the parser reads).</summary>
    private const int HelloRecordOverhead = 64;

    private const string HelloTimeout = "hello_timeout";
    private const string HelloTruncated = "hello_truncated";

    /// <summary>What the bytes a connection has sent so far decide.</summary>
    private enum Verdict
    {
        Incomplete,
        Refused,
        Routed,
    }

    /// <summary>
    /// Serves a connection the <see cref="GatewayListener"/> accepted on an event loop: reads its ClientHello into a pooled
    /// buffer, connects to the endpoint it names on the same loop, sends the ClientHello on and splices the rest. The
    /// caller closes <paramref name="client"/>; <paramref name="aborted"/> ends a connection the gateway gives up on.
    /// </summary>
    public async Task ServeAsync(ReadinessSocket client, CancellationToken aborted)
    {
        var hello = ArrayPool<byte>.Shared.Rent(HelloBufferBytes);
        var name = ArrayPool<byte>.Shared.Rent(ClientHelloParser.MaxServerName);
        ReadinessSocket? upstream = null;
        UpstreamEndpoint? endpoint = null;
        try
        {
            var received = 0;
            ServiceRoute? route;
            string outcome, reason;
            var timeout = new CancellationTokenSource(options.ClientHelloTimeout);
            // A read has no token: the timeout closes the socket, which ends the read it waits in.
            var closing = timeout.Token.UnsafeRegister(static s => ((ReadinessSocket)s!).Dispose(), client);
            try
            {
                while (true)
                {
                    if (received == hello.Length && !TryGrow(ref hello, received))
                    {
                        (outcome, reason) = ("hello_too_large", "the ClientHello is larger than the limit");
                        route = null;
                        break;
                    }

                    int read;
                    try
                    {
                        read = await client.ReceiveAsync(hello.AsMemory(received));
                    }
                    catch (SocketException)
                    {
                        (outcome, reason) = (HelloTruncated, "the connection failed inside the ClientHello");
                        route = null;
                        break;
                    }

                    received += read;
                    var verdict = Inspect(new ReadOnlySequence<byte>(hello, 0, received), read == 0, name, out route, out outcome, out reason);
                    if (verdict != Verdict.Incomplete)
                    {
                        break;
                    }
                }
            }
            finally
            {
                // Waits for a timeout that is closing the socket: after this, either it did or it never will.
                closing.Dispose();
                timeout.Dispose();
            }

            if (timeout.IsCancellationRequested)
            {
                Refuse(client, HelloTimeout, "no complete ClientHello in time");
                return;
            }

            if (route is null)
            {
                Refuse(client, outcome, reason);
                return;
            }

            (upstream, endpoint) = await ConnectAsync(route, static (target, loop, token) => ReadinessSocket.ConnectAsync(target, loop, token), client.Loop, aborted);
            if (upstream is null)
            {
                (outcome, reason) = Unconnected(route, endpoint);
                Refuse(client, outcome, reason);
                endpoint = null;
                return;
            }

            Forwarding(endpoint!);
            ArrayPool<byte>.Shared.Return(name);
            name = null;
            // The ClientHello goes upstream untouched, and its buffer back to the pool before the connection's long life.
            await upstream.SendAsync(hello.AsMemory(0, received));
            ArrayPool<byte>.Shared.Return(hello);
            hello = null;
            var (toUpstream, toClient) = await LoopSplice.RunAsync(client, upstream, options.ZeroCopySplice);
            metrics.Bytes(received + toUpstream, toClient);
        }
        catch (SocketException)
        {
            // Either side reset before the splice began: nothing more to do than close both.
        }
        finally
        {
            endpoint?.RequestEnded();
            upstream?.Dispose();
            if (hello is not null)
            {
                ArrayPool<byte>.Shared.Return(hello);
            }

            if (name is not null)
            {
                ArrayPool<byte>.Shared.Return(name);
            }
        }
    }

    /// <summary>Kestrel's connections, where there are no event loops: the same routing over the connection's pipes, copied in user space.</summary>
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var name = ArrayPool<byte>.Shared.Rent(ClientHelloParser.MaxServerName);
        ServiceRoute? route;
        try
        {
            // Not linked to ConnectionClosed: Kestrel fires it on the client's FIN, possibly before its last bytes are read.
            using var timeout = new CancellationTokenSource(options.ClientHelloTimeout);
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await input.ReadAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    Refuse(connection, HelloTimeout, "no complete ClientHello in time");
                    return;
                }

                var verdict = Inspect(result.Buffer, result.IsCompleted, name, out route, out var outcome, out var reason);
                if (verdict == Verdict.Incomplete)
                {
                    input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    continue;
                }

                // Keep every byte: the ClientHello goes upstream untouched.
                input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
                if (verdict == Verdict.Refused)
                {
                    Refuse(connection, outcome, reason);
                    return;
                }

                break;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(name);
        }

        var (socket, endpoint) = await ConnectAsync(route!, static async (target, _, token) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(target, token);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }, (EventLoop?)null, connection.ConnectionClosed);
        if (socket is null)
        {
            var (outcome, reason) = Unconnected(route!, endpoint);
            Refuse(connection, outcome, reason);
            return;
        }

        Forwarding(endpoint!);
        try
        {
            var (received, sent) = await Splice.RunAsync(connection.Transport, socket);
            metrics.Bytes(received, sent);
        }
        finally
        {
            endpoint!.RequestEnded();
            socket.Dispose();
        }
    }

    /// <summary>Parses what has arrived and, once the ClientHello is whole, decides where it goes.</summary>
    private Verdict Inspect(ReadOnlySequence<byte> received, bool ended, Span<byte> name, out ServiceRoute? route, out string outcome, out string reason)
    {
        route = null;
        outcome = "";
        var status = ClientHelloParser.TryParse(received, options.MaxClientHelloBytes, name, out var hello, out reason);
        if (status == ClientHelloStatus.Incomplete)
        {
            if (!ended)
            {
                return Verdict.Incomplete;
            }

            (outcome, reason) = (HelloTruncated, "the connection ended inside the ClientHello");
            return Verdict.Refused;
        }

        if (status != ClientHelloStatus.Complete)
        {
            outcome = status switch
            {
                ClientHelloStatus.NotTls => "not_tls",
                ClientHelloStatus.TooLarge => "hello_too_large",
                _ => "hello_malformed",
            };
            return Verdict.Refused;
        }

        if (!hello.HasServerName)
        {
            (outcome, reason) = ("no_sni", "the ClientHello names no host");
            return Verdict.Refused;
        }

        if (!TryReadSni(name[..hello.ServerNameLength], out var sni))
        {
            (outcome, reason) = ("bad_sni", "the SNI is not a mesh SNI");
            return Verdict.Refused;
        }

        if (!hello.OffersMeshProtocol)
        {
            (outcome, reason) = ("no_mesh_alpn", "only mesh mTLS may cross networks");
            return Verdict.Refused;
        }

        var snapshot = config.Current;
        if (snapshot is null || !snapshot.Exposes(sni.Host, (uint)options.GatewayPort))
        {
            (outcome, reason) = ("not_exposed", $"no Gateway exposes {sni.Host}");
            return Verdict.Refused;
        }

        route = snapshot.Find(sni.Host, (uint)sni.Port);
        if (route is null)
        {
            (outcome, reason) = ("no_endpoint", $"{sni.Host}:{sni.Port} has no endpoint in this network");
            return Verdict.Refused;
        }

        return Verdict.Routed;
    }

    /// <summary>
    /// Connects to an endpoint of <paramref name="route"/> in this network, trying others on failure
    /// (<see cref="ProxyOptions.MaxRetries"/>): the connection and its endpoint; or no connection, and the last endpoint
    /// that refused it, or none when the route has no endpoint in this network.
    /// </summary>
    private async ValueTask<(T? Connection, UpstreamEndpoint? Endpoint)> ConnectAsync<T, TState>(
        ServiceRoute route, Func<IPEndPoint, TState, CancellationToken, ValueTask<T>> connect, TState state, CancellationToken aborted)
        where T : class
    {
        UpstreamEndpoint? previous = null;
        for (var attempt = 0; attempt <= options.MaxRetries; attempt++)
        {
            var endpoint = route.Picker.Pick(previous);
            if (endpoint is null || endpoint.ViaGateway)
            {
                return (null, null);
            }

            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                timeout.CancelAfter(options.ConnectTimeout);
                var connection = await connect(new IPEndPoint(IPAddress.Parse(endpoint.Address), options.InboundPort), state, timeout.Token);
                endpoint.Succeeded();
                return (connection, endpoint);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                ConnectFailures.Record(endpoint, options);
                previous = endpoint;
            }
        }

        return (null, previous);
    }

    /// <summary>Why <see cref="ConnectAsync"/> found no connection: no endpoint to try, or none that accepted.</summary>
    private static (string Outcome, string Reason) Unconnected(ServiceRoute route, UpstreamEndpoint? lastTried) => lastTried is null
        ? ("no_endpoint", $"{route.Hostname}:{route.Port} has no endpoint in this network")
        : ("upstream_connect_failed", $"no endpoint of {route.Hostname} accepted a connection");

    private void Forwarding(UpstreamEndpoint endpoint)
    {
        metrics.Connection(Listener, "forwarded");
        endpoint.RequestStarted();
    }

    /// <summary>Swaps the ClientHello's buffer for one twice as large, up to what the limit allows: false at the limit.</summary>
    private bool TryGrow(ref byte[] buffer, int used)
    {
        var limit = options.MaxClientHelloBytes + HelloRecordOverhead;
        if (buffer.Length >= limit)
        {
            return false;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, limit));
        buffer.AsSpan(0, used).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = larger;
        return true;
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
        Refused(outcome, reason, connection.RemoteEndPoint);
        connection.Abort(new ConnectionAbortedException(reason));
    }

    private void Refuse(ReadinessSocket client, string outcome, string reason)
    {
        Refused(outcome, reason, logger.IsEnabled(LogLevel.Debug) ? client.RemoteEndPoint : null);
        client.Shutdown(SocketShutdown.Both);
    }

    private void Refused(string outcome, string reason, EndPoint? remote)
    {
        metrics.Connection(Listener, outcome);
        logger.LogDebug("gateway refused {Remote}: {Reason}", remote, reason);
    }
}
