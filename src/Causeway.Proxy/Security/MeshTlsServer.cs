using System.IO.Pipelines;
using System.Security.Authentication;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Security.OpenSsl;
using Causeway.Proxy.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Security;

/// <summary>
/// The inbound listener's TLS (15006), in place of Kestrel's HTTPS middleware: a client certificate is required and must
/// chain to a mesh root of the moment; no session is resumed. The handshake runs on OpenSSL with one context per
/// workload certificate and trust bundle (<see cref="MeshServerContext"/>); the connection's transport becomes the
/// plaintext, and the TLS features say what was agreed.
/// </summary>
public sealed class MeshTlsServer(WorkloadCertificates certificates, ProxyConfigHolder config, ProxyMetrics metrics, ILogger logger)
{
    private MeshServerContext? _context;

    /// <summary>How long a client has to finish its handshake (Kestrel's HandshakeTimeout default).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The connection middleware: handshake, then the rest of the listener's steps over the plaintext.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        if (Context() is not { } context)
        {
            metrics.Connection(Inbound.InboundConnection.Listener, "no_certificate");
            connection.Abort(new ConnectionAbortedException("no workload certificate or trust bundle yet"));
            return;
        }

        var transport = connection.Transport;
        var tls = new OpenSslServerStream(context, transport);
        await using var _ = tls;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            timeout.CancelAfter(HandshakeTimeout);
            try
            {
                await tls.HandshakeAsync(timeout.Token);
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
            {
                var reason = e is not OperationCanceledException ? e.Message
                    : connection.ConnectionClosed.IsCancellationRequested ? "the client closed the connection during the TLS handshake"
                    : $"the TLS handshake did not finish within {HandshakeTimeout.TotalSeconds:0.#} s";
                metrics.Connection(Inbound.InboundConnection.Listener, "tls_failed");
                logger.LogDebug("inbound TLS handshake from {Remote} refused: {Reason}", connection.RemoteEndPoint, reason);
                connection.Abort(new ConnectionAbortedException(reason));
                return;
            }
        }

        // A trust bundle replaced during the handshake: the chain must still end at a root of the moment.
        if (config.Current is { } snapshot && !context.StillTrusts(snapshot, tls))
        {
            metrics.Connection(Inbound.InboundConnection.Listener, "tls_failed");
            connection.Abort(new ConnectionAbortedException("the client's chain no longer ends at a mesh root"));
            return;
        }

        var features = new OpenSslConnectionFeatures(tls);
        connection.Features.Set<ITlsConnectionFeature>(features);
        connection.Features.Set<ITlsHandshakeFeature>(features);
        connection.Features.Set<ITlsApplicationProtocolFeature>(features);
        var pool = connection.Features.Get<IMemoryPoolFeature>()?.MemoryPool;
        // As Kestrel's HTTPS middleware reads SslStream: zero-byte reads, so that an idle connection holds no buffer.
        var plaintext = new DuplexPipe(
            PipeReader.Create(tls, new StreamPipeReaderOptions(pool: pool, bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true)),
            new TlsPlaintextWriter(PipeWriter.Create(tls, new StreamPipeWriterOptions(pool: pool, leaveOpen: true)), tls, connection.ConnectionClosed));
        connection.Transport = plaintext;
        try
        {
            await next(connection);
        }
        finally
        {
            // Their pooled buffers go back (completing twice, after Kestrel did, is harmless). The writer's first
            // completion, when clean, sends close_notify (TlsPlaintextWriter), which tells the client the end is the end,
            // as nginx and Envoy do; after one with an error this one sends nothing, so a broken stream does not look whole.
            await plaintext.Input.CompleteAsync();
            try
            {
                await plaintext.Output.CompleteAsync();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
            {
            }

            connection.Transport = transport;
        }
    };

    /// <summary>The context for the certificate and trust bundle of the moment, built when either changed.</summary>
    private MeshServerContext? Context() => MeshTlsContext.ForTheMoment(ref _context, certificates.Current, config.Current, MeshServerContext.Create);
}
