using System.Net;
using System.Net.Sockets;
using Causeway.Core.Identity;
using Causeway.Core.Naming;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Security;
using Causeway.Proxy.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Causeway.Proxy.Inbound;

/// <summary>
/// The connection-level steps of the inbound listener (15006), around Kestrel's TLS: before it, plaintext is refused
/// when STRICT (the default); after it, the SNI names the service and port, the peer's SPIFFE ID is kept for
/// authorization, and mesh TCP (ALPN "istio") is spliced to the application instead of parsed as HTTP.
/// </summary>
public sealed class InboundConnection(ProxyOptions options, ProxyConfigHolder config, MeshTls tls, ProxyMetrics metrics)
{
    public const string Listener = "inbound";
    internal const string SniItem = "causeway.sni";
    internal const string PeerItem = "causeway.peer";

    /// <summary>Before TLS: a first byte that is not a TLS handshake record is plaintext.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> PlaintextGuard => next => async connection =>
    {
        var input = connection.Transport.Input;
        var result = await input.ReadAsync(connection.ConnectionClosed);
        var isTls = !result.Buffer.IsEmpty && result.Buffer.FirstSpan[0] == 0x16;
        input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
        if (isTls)
        {
            await next(connection);
            return;
        }

        var snapshot = config.Current;
        if (result.Buffer.IsEmpty || snapshot is null || snapshot.Strict)
        {
            metrics.Connection(Listener, "plaintext_refused");
            connection.Abort(new ConnectionAbortedException("plaintext refused: mTLS is STRICT"));
            return;
        }

        // PERMISSIVE: plaintext passes through to the application: to the port it was sent to when capture redirected
        // it here, else to the workload's one port.
        if (Outbound.OriginalDestination.Of(connection) is { } original && original.Port != options.InboundPort)
        {
            metrics.Connection(Listener, "plaintext_permitted");
            await SpliceToAppAsync(connection, original.Port);
            return;
        }

        var ports = AppPorts(snapshot);
        if (ports.Count != 1)
        {
            metrics.Connection(Listener, "plaintext_ambiguous_port");
            connection.Abort();
            return;
        }

        metrics.Connection(Listener, "plaintext_permitted");
        await SpliceToAppAsync(connection, (int)ports[0]);
    };

    /// <summary>After TLS: check the SNI, remember the peer, and carry mesh TCP straight to the application.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> AfterTls => next => async connection =>
    {
        var sniName = connection.Features.Get<ITlsHandshakeFeature>()?.HostName;
        if (!MeshSni.TryParse(sniName, out var sni))
        {
            metrics.Connection(Listener, "bad_sni");
            connection.Abort(new ConnectionAbortedException($"SNI '{sniName}' is not a mesh SNI"));
            return;
        }

        var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
        if (!tls.TryReadIdentity(certificate, out var peer, out var error))
        {
            metrics.Connection(Listener, "bad_peer_identity");
            connection.Abort(new ConnectionAbortedException(error));
            return;
        }

        connection.Items[SniItem] = sni;
        connection.Items[PeerItem] = peer;
        var alpn = connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol;
        if (alpn is { } protocol && protocol.Span.SequenceEqual("istio"u8))
        {
            var snapshot = config.Current!;
            var port = TargetPort(snapshot, sni);
            if (AuthorizationEvaluator.Check(snapshot.Config.AuthorizationPolicies, peer, port, "", "") is { } denied)
            {
                metrics.Connection(Listener, "tcp_denied");
                connection.Abort(new ConnectionAbortedException("RBAC: access denied by " + denied));
                return;
            }

            metrics.Connection(Listener, "tcp");
            await SpliceToAppAsync(connection, (int)port);
            return;
        }

        // Envoy's downstream_cx_http1_total / downstream_cx_http2_total: which protocol the mesh hop spoke.
        metrics.Connection(Listener, alpn is { } negotiated && negotiated.Span.SequenceEqual("h2"u8) ? "http2" : "http1");
        if (await AbandonedAfterCloseAsync(next(connection), options.ClosedConnectionGrace, connection.ConnectionClosed))
        {
            metrics.Connection(Listener, "abandoned_after_close");
        }
    };

    /// <summary>
    /// Waits for Kestrel's processing of a connection, but no longer than <paramref name="grace"/> after its transport
    /// closed (<paramref name="closed"/>); true when it stopped waiting. Returning lets Kestrel end the connection (its
    /// counters, its slot of <see cref="ProxyOptions.MaxConnections"/>) when its HTTP/2 processing never finishes
    /// (dotnet/aspnetcore#51307).
    /// </summary>
    internal static async Task<bool> AbandonedAfterCloseAsync(Task processing, TimeSpan grace, CancellationToken closed)
    {
        if (processing.IsCompleted)
        {
            await processing;
            return false;
        }

        var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (closed.Register(static state => ((TaskCompletionSource)state!).TrySetResult(), closing))
        {
            if (await Task.WhenAny(processing, closing.Task) == processing)
            {
                await processing;
                return false;
            }
        }

        if (await Task.WhenAny(processing, Task.Delay(grace, CancellationToken.None)) == processing)
        {
            await processing;
            return false;
        }

        // Observed, so that a fault it may still end with is not an unobserved task exception.
        _ = processing.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return true;
    }

    /// <summary>The application port for a mesh SNI: this workload's endpoint port for that service port, else the service port.</summary>
    public uint TargetPort(ProxySnapshot snapshot, MeshSni sni)
    {
        var route = snapshot.Find(sni.Host, (uint)sni.Port);
        if (route is not null)
        {
            foreach (var e in route.Picker.Endpoints)
            {
                if (!e.ViaGateway && e.WorkloadName == options.WorkloadName)
                {
                    return e.Port;
                }
            }
        }

        return (uint)sni.Port;
    }

    internal static SpiffeId? Peer(IConnectionItemsFeature? items) =>
        items?.Items.TryGetValue(PeerItem, out var p) == true ? p as SpiffeId : null;

    internal static MeshSni? Sni(IConnectionItemsFeature? items) =>
        items?.Items.TryGetValue(SniItem, out var s) == true && s is MeshSni sni ? sni : null;

    private List<uint> AppPorts(ProxySnapshot snapshot)
    {
        var ports = new List<uint>();
        foreach (var route in snapshot.Routes)
        {
            foreach (var e in route.Picker.Endpoints)
            {
                if (!e.ViaGateway && e.WorkloadName == options.WorkloadName && !ports.Contains(e.Port))
                {
                    ports.Add(e.Port);
                }
            }
        }

        return ports;
    }

    private async Task SpliceToAppAsync(ConnectionContext connection, int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(options.AppAddressOrDefault, port), connection.ConnectionClosed);
        }
        catch (SocketException)
        {
            metrics.Connection(Listener, "app_connect_failed");
            connection.Abort();
            return;
        }

        var (received, sent) = await Splice.RunAsync(connection.Transport, socket);
        metrics.Bytes(received, sent);
    }
}
