using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Causeway.Proxy.Transport;

/// <summary>
/// An accepted connection as Kestrel sees it (pipes in and out, its features), carried by a <see cref="ReadinessSocket"/>
/// on an <see cref="EventLoop"/>: Kestrel's socket transport does the same over .NET's sockets. A receive loop fills the
/// input pipe and a send loop drains the output pipe, as in Kestrel's <c>SocketConnection</c>, whose closing rules this
/// keeps: the connection is shut down both ways and closed when the output completes or the connection is aborted, and
/// <see cref="ConnectionClosed"/> fires when the receiving side ends.
/// </summary>
public sealed class LoopConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, IConnectionSocketFeature
{
    /// <summary>Each receive asks the pipe for at least this much room (Kestrel's is half its 4 KiB block).</summary>
    private const int MinReceiveBytes = 2048;

    private static long _lastId;

    private readonly ReadinessSocket _socket;
    private readonly DuplexPipe _application;
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _shutdownLock = new();
    private readonly TaskCompletionSource _closedFired = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _processing;
    private bool _socketDisposed;
    private Exception? _shutdownReason;
    private int _closedQueued;

    public LoopConnection(Socket socket, EventLoop loop, LoopTransportOptions options)
    {
        socket.NoDelay = true;
        _socket = new ReadinessSocket(socket, loop);
        Socket = socket;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionId = "L" + Interlocked.Increment(ref _lastId).ToString("X");
        ConnectionClosed = _closed.Token;

        // Inline scheduling runs the application's reads on the loop's thread as the bytes arrive, and the send loop on
        // the thread that flushed: the point of the loop is that one thread carries a request through.
        var scheduler = options.InlineScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
        var input = new Pipe(new PipeOptions(null, scheduler, PipeScheduler.Inline, options.MaxReadBufferBytes, options.MaxReadBufferBytes / 2, useSynchronizationContext: false));
        var output = new Pipe(new PipeOptions(null, PipeScheduler.Inline, scheduler, options.MaxWriteBufferBytes, options.MaxWriteBufferBytes / 2, useSynchronizationContext: false));
        Transport = new DuplexPipe(input.Reader, output.Writer);
        _application = new DuplexPipe(output.Reader, input.Writer);

        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IConnectionSocketFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    /// <summary>The TCP socket, for what asks it directly (the original destination of a captured connection).</summary>
    public Socket Socket { get; }

    /// <summary>Starts the receive and send loops; the listener calls it before handing the connection to Kestrel.</summary>
    public void Start() => _processing = RunAsync();

    private async Task RunAsync()
    {
        var receiving = ReceiveAsync();
        var sending = SendAsync();
        await receiving;
        await sending;
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason);
        _application.Input.CancelPendingRead();
    }

    public override async ValueTask DisposeAsync()
    {
        Transport.Input.Complete();
        Transport.Output.Complete();
        if (_processing is not null)
        {
            await _processing;
        }

        _closed.Dispose();
        await base.DisposeAsync();
    }

    private async Task ReceiveAsync()
    {
        var input = _application.Output;
        Exception? error = null;
        try
        {
            while (true)
            {
                var buffer = input.GetMemory(MinReceiveBytes);
                var received = await _socket.ReceiveAsync(buffer);
                if (received == 0)
                {
                    break;
                }

                input.Advance(received);
                var flushed = await input.FlushAsync();
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = Reason(e);
        }
        finally
        {
            // Once shut down (aborted, or the output done), that is why the receiving stopped.
            input.Complete(_shutdownReason ?? error);
            FireConnectionClosed();
            await _closedFired.Task;
        }
    }

    private async Task SendAsync()
    {
        var output = _application.Input;
        Exception? reason = null;
        try
        {
            while (true)
            {
                var result = await output.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                if (buffer.IsSingleSegment)
                {
                    await _socket.SendAsync(buffer.First);
                }
                else
                {
                    foreach (var segment in buffer)
                    {
                        await _socket.SendAsync(segment);
                    }
                }

                output.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            reason = Reason(e);
        }
        finally
        {
            Shutdown(reason);
            output.Complete();
            _application.Output.CancelPendingFlush();
        }
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _closedQueued, 1) != 0)
        {
            return;
        }

        // Off the loop's thread: the token's callbacks are the application's, and may be slow.
        ThreadPool.UnsafeQueueUserWorkItem(static connection =>
        {
            connection._closed.Cancel();
            connection._closedFired.TrySetResult();
        }, this, preferLocal: false);
    }

    private void Shutdown(Exception? reason)
    {
        lock (_shutdownLock)
        {
            if (_socketDisposed)
            {
                return;
            }

            _socketDisposed = true;
            _shutdownReason = reason ?? new ConnectionAbortedException("The connection's send loop completed gracefully.");
            _socket.Shutdown(SocketShutdown.Both);
            _socket.Dispose();
        }
    }

    /// <summary>A reset as Kestrel reports it (what its HTTP layer and the direct path tell from an abort); anything else as it came.</summary>
    private static Exception Reason(Exception e) =>
        e is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown } reset ? new ConnectionResetException(reset.Message, reset) : e;

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
