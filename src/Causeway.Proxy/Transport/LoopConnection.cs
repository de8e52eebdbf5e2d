using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Causeway.Proxy.Transport;

/// <summary>
/// An accepted connection as Kestrel sees it (pipes in and out, its features), carried by a <see cref="ReadinessSocket"/>
/// on an <see cref="EventLoop"/>: Kestrel's socket transport does the same over .NET's sockets. Its pipes read and send
/// on demand (<see cref="LoopPipeReader"/>, <see cref="LoopPipeWriter"/>) rather than through receive and send loops,
/// and it keeps the closing rules of Kestrel's <c>SocketConnection</c>: the connection is shut down both ways and closed
/// when the output completes or the connection is aborted, and <see cref="ConnectionClosed"/> fires when the peer closes
/// (read, or seen by the loop while nothing reads) or the connection is shut down.
/// </summary>
public sealed class LoopConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, IConnectionSocketFeature
{
    private static long _lastId;

    private readonly ReadinessSocket _socket;
    private readonly LoopPipeReader _input;
    private readonly LoopPipeWriter _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _shutdownLock = new();
    private readonly TaskCompletionSource _closedFired = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _shutdownReason;
    private int _closedQueued;

    public LoopConnection(Socket socket, EventLoop loop, LoopTransportOptions options)
    {
        socket.NoDelay = true;
        _socket = new ReadinessSocket(socket, loop)
        {
            HungUp = static s => ((LoopConnection)s!).FireConnectionClosed(),
            HungUpState = this,
        };
        Socket = socket;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionId = "L" + Interlocked.Increment(ref _lastId).ToString("X");
        ConnectionClosed = _closed.Token;
        _input = new LoopPipeReader(this, _socket, options);
        _output = new LoopPipeWriter(this, _socket, options);
        Transport = new DuplexPipe(_input, _output);

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

    public override void Abort(ConnectionAbortedException abortReason) => Shutdown(abortReason);

    public override async ValueTask DisposeAsync()
    {
        _input.Complete();
        _output.Complete();
        await _outputClosed.Task;
        await _closedFired.Task;
        _closed.Dispose();
        await base.DisposeAsync();
    }

    /// <summary>Why the connection was shut down (aborted, a send failed, or the output completed); null while it is open.</summary>
    internal Exception? ShutdownReason => Volatile.Read(ref _shutdownReason);

    /// <summary>The reader's receive failed: what its read throws (why the connection was shut down, if it was).</summary>
    internal Exception ReceiveFailed(Exception e)
    {
        FireConnectionClosed();
        return ShutdownReason ?? Reason(e);
    }

    /// <summary>The reader read the peer's FIN.</summary>
    internal void ReceiveEnded() => FireConnectionClosed();

    /// <summary>A send failed: the connection is done.</summary>
    internal void SendFailed(Exception e) => Shutdown(Reason(e));

    /// <summary>The writer completed and sent what it held.</summary>
    internal void OutputCompleted()
    {
        Shutdown(null);
        _outputClosed.TrySetResult();
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
            if (_shutdownReason is not null)
            {
                return;
            }

            Volatile.Write(ref _shutdownReason, reason ?? new ConnectionAbortedException("The connection's output completed gracefully."));
            _socket.Shutdown(SocketShutdown.Both);
            _socket.Dispose();
        }

        FireConnectionClosed();
    }

    /// <summary>A reset as Kestrel reports it (what its HTTP layer and the direct path tell from an abort); anything else as it came.</summary>
    private static Exception Reason(Exception e) =>
        e is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown } reset ? new ConnectionResetException(reset.Message, reset) : e;
}
