using System.Net;
using System.Net.Sockets;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Transport;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Gateway;

/// <summary>
/// The east-west gateway's listener on the event loops, with nothing between accept(2) and <see cref="SniRouter"/>: it
/// accepts on a loop, holds <see cref="ProxyOptions.MaxConnections"/> at accept, and spreads the connections over the
/// loops, each served there from its ClientHello to its end. A passthrough connection uses nothing Kestrel gives an HTTP
/// one (pipes, features, its connection manager and thread-pool dispatch), and that was a third of the gateway's CPU per
/// new connection (bench B6).
/// </summary>
public sealed class GatewayListener : IAsyncDisposable
{
    /// <summary>How long accepting pauses after the process ran out of descriptors or memory, as the backlog waits.</summary>
    private static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>How long stopping waits for aborted connections to unwind (each only has to see its sockets closed).</summary>
    private static readonly TimeSpan AbortedUnwindTime = TimeSpan.FromSeconds(5);

    private readonly ReadinessSocket _listening;
    private readonly SniRouter _router;
    private readonly ProxyOptions _options;
    private readonly ProxyMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _accepting;
    private long _open;
    private volatile bool _stopping;

    private GatewayListener(ReadinessSocket listening, EndPoint endPoint, SniRouter router, ProxyOptions options, ProxyMetrics metrics, ILogger logger)
    {
        _listening = listening;
        _router = router;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        EndPoint = endPoint;
        _accepting = AcceptAsync();
    }

    /// <summary>The bound address.</summary>
    public EndPoint EndPoint { get; }

    /// <summary>Binds and starts accepting; an address in use is an <see cref="IOException"/>, as Kestrel reports it.</summary>
    public static GatewayListener Start(IPEndPoint endPoint, SniRouter router, ProxyOptions options, ProxyMetrics metrics, ILogger logger)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        ReadinessSocket? listening = null;
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endPoint);
            socket.Listen(options.ListenBacklog);
            var bound = socket.LocalEndPoint!;
            listening = ReadinessSocket.Listening(socket, EventLoop.Next());
            return new GatewayListener(listening, bound, router, options, metrics, logger);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new IOException($"Failed to bind to address {endPoint}: address already in use.", e);
        }
        catch
        {
            if (listening is null)
            {
                socket.Dispose();
            }
            else
            {
                listening.Dispose();
            }

            throw;
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stopping)
        {
            int fd;
            try
            {
                fd = await _listening.AcceptAsync();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted || _stopping)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of descriptors or memory: the connection stays in the backlog until some are free again.
                _logger.LogWarning("gateway: cannot accept a connection on {EndPoint}: {Error}; trying again in {Delay} ms", EndPoint, e.Message, AcceptRetryDelay.TotalMilliseconds);
                await Task.Delay(AcceptRetryDelay);
                continue;
            }

            if (Interlocked.Increment(ref _open) > _options.MaxConnections)
            {
                // Kestrel's MaxConcurrentConnections: refused as soon as accepted, and counted.
                Interlocked.Decrement(ref _open);
                // Closed as every descriptor it accepts is (close(2), a FIN), where a SafeSocketHandle released on its own resets.
                new SocketDescriptor(fd).Dispose();
                _metrics.Connection(SniRouter.Listener, "over_connection_limit");
                continue;
            }

            _ = ServeAsync(fd);
        }
    }

    private async Task ServeAsync(int fd)
    {
        ReadinessSocket? client = null;
        try
        {
            client = ReadinessSocket.Adopt(fd, EventLoop.Next());

            using (_abort.Token.UnsafeRegister(static s => ((ReadinessSocket)s!).Dispose(), client))
            {
                await _router.ServeAsync(client, _abort.Token);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or System.ComponentModel.Win32Exception)
        {
            // It closed before it could join a loop, or the gateway gave up on it while stopping.
        }
        catch (Exception e)
        {
            _logger.LogError(e, "gateway: unexpected error on a connection");
        }
        finally
        {
            client?.Dispose();
            if (Interlocked.Decrement(ref _open) == 0 && _stopping)
            {
                _drained.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Stops accepting, then waits for the open connections to end until <paramref name="drain"/> fires (Kestrel's
    /// StopAsync): a spliced connection lasts as long as its two ends keep it, so those still open then are closed.
    /// </summary>
    public async Task StopAsync(CancellationToken drain)
    {
        _stopping = true;
        _listening.Dispose();
        await _accepting;
        if (Interlocked.Read(ref _open) == 0)
        {
            _drained.TrySetResult();
        }

        try
        {
            await _drained.Task.WaitAsync(drain);
        }
        catch (OperationCanceledException)
        {
            await _abort.CancelAsync();
            try
            {
                await _drained.Task.WaitAsync(AbortedUnwindTime, CancellationToken.None);
            }
            catch (TimeoutException)
            {
                _logger.LogWarning("gateway: {Open} connections still closing {Seconds} s after they were aborted", Interlocked.Read(ref _open), AbortedUnwindTime.TotalSeconds);
            }
        }
    }

    /// <summary>Stops at once: what is open is closed (the proxy's own stop drains first, <see cref="StopAsync"/>).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_stopping)
        {
            await StopAsync(new CancellationToken(canceled: true));
        }
    }
}
