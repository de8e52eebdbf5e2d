using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Causeway.Proxy.Transport;

/// <summary>
/// A non-blocking TCP socket on an <see cref="EventLoop"/> that tracks, per direction, whether it may be ready, as HAProxy
/// does: a read that returns less than it asked for (or finds nothing) marks the socket drained until the loop sees its
/// next edge, and a write that could not send everything marks it full. A drained socket waits without a system call;
/// .NET's own sockets instead try every read first, which finds nothing half the time in a proxy's request/response
/// pattern. One read and one write may be outstanding at a time; their continuations run on the loop's thread.
/// </summary>
public sealed partial class ReadinessSocket : IDisposable
{
    private readonly SafeHandle _fd;
    private readonly Socket? _socket;
    private readonly EventLoop _loop;
    private readonly GCHandle _registration;
    private readonly Receiver _receiver;
    private readonly Sender _sender;
    private int _disposed;
    private volatile bool _errorSeen;

    /// <summary>
    /// Takes a .NET socket (accepted or connected) onto <paramref name="loop"/>, and owns it from then on. A listening one
    /// goes through <see cref="Listening"/>, which gives the connections <see cref="Adopt"/> takes their TCP_NODELAY.
    /// </summary>
    public ReadinessSocket(Socket socket, EventLoop loop)
        : this(socket.SafeHandle, socket, loop, drained: false)
    {
    }

    private ReadinessSocket(SafeHandle fd, Socket? socket, EventLoop loop, bool drained)
    {
        if (socket is not null)
        {
            socket.Blocking = false;
        }

        _socket = socket;
        _fd = fd;
        _loop = loop;
        _receiver = new Receiver(this);
        _sender = new Sender(this);
        if (drained)
        {
            _receiver.StartDrained();
        }

        _registration = loop.Register(this, _fd);
    }

    /// <summary>
    /// Takes a listening socket onto <paramref name="loop"/> for <see cref="AcceptAsync"/>, with TCP_NODELAY set on it for
    /// the connections it accepts (see <see cref="Adopt"/>), and owns it from then on.
    /// </summary>
    public static ReadinessSocket Listening(Socket socket, EventLoop loop)
    {
        socket.NoDelay = true;
        return new ReadinessSocket(socket, loop);
    }

    /// <summary>
    /// Takes a descriptor that <see cref="AcceptAsync"/> returned onto <paramref name="loop"/>, and owns it. Its first read
    /// waits for the loop's edge rather than try at once: a connection is usually accepted before its first bytes arrive,
    /// and the registration reports them if they have. Its TCP_NODELAY comes from a listener made by <see cref="Listening"/>:
    /// Linux copies the option to every connection accepted, one system call per connection less.
    /// </summary>
    public static ReadinessSocket Adopt(int fd, EventLoop loop)
    {
        var descriptor = new SocketDescriptor(fd);
        try
        {
            return new ReadinessSocket(descriptor, null, loop, drained: true);
        }
        catch
        {
            descriptor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The .NET socket, for its options and addresses, when this was made from one; null for a descriptor adopted or
    /// connected without one. Its own Receive and Send would bypass the readiness tracking.
    /// </summary>
    public Socket? Socket => _socket;

    /// <summary>The peer's address (getpeername(2)), or null once the socket is closed or for a family other than IP.</summary>
    public IPEndPoint? RemoteEndPoint => PeerAddress();

    /// <summary>The loop the socket is on, where its continuations run.</summary>
    public EventLoop Loop => _loop;

    /// <summary>
    /// True when the peer sent something (bytes, a FIN or a reset) since the last read found the socket drained: for an
    /// idle pooled connection, that it is no longer idle and open. No system call; the loop's last edge is what it knows.
    /// </summary>
    public bool MayHaveInput => _receiver.MayBeReady;

    /// <summary>
    /// Connects without blocking and without .NET's socket engine, then puts the socket on <paramref name="loop"/>. An IPv4
    /// socket is opened and connected with the system calls themselves (<see cref="SocketDescriptor"/>): the mesh's
    /// addresses are IPv4; anything else is a .NET socket.
    /// </summary>
    public static async ValueTask<ReadinessSocket> ConnectAsync(IPEndPoint endPoint, EventLoop loop, CancellationToken cancellationToken)
    {
        SafeHandle fd;
        Socket? socket = null;
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            fd = SocketDescriptor.OpenTcp4();
        }
        else
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            fd = socket.SafeHandle;
        }

        ReadinessSocket? ready = null;
        try
        {
            SetNoDelay(fd);
            var pending = socket is null ? StartConnect(fd, endPoint) : StartConnect(socket, endPoint);

            // Registered only now: a socket not yet connecting reports itself writable and hung up, a false edge.
            ready = new ReadinessSocket(fd, socket, loop, drained: false);
            if (pending)
            {
                using (cancellationToken.UnsafeRegister(static s => ((ReadinessSocket)s!).Dispose(), ready))
                {
                    await ready._sender.WaitAsync();
                }

                cancellationToken.ThrowIfCancellationRequested();
                var error = ready.ConnectError();
                if (error != SocketError.Success)
                {
                    throw new SocketException((int)error);
                }
            }

            return ready;
        }
        catch
        {
            if (ready is not null)
            {
                ready.Dispose();
            }
            else if (socket is not null)
            {
                socket.Dispose();
            }
            else
            {
                fd.Dispose();
            }

            throw;
        }
    }

    /// <summary>.NET's non-blocking connect, which reports "in progress" by throwing: for what is not IPv4.</summary>
    private static bool StartConnect(Socket socket, IPEndPoint endPoint)
    {
        try
        {
            socket.Connect(endPoint);
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
            return true;
        }
    }

    /// <summary>
    /// connect(2) on the non-blocking IPv4 socket: true while it is in progress. Not Socket.Connect, which reports "in
    /// progress" by throwing, and an exception per connection was 3% of the gateway's CPU opening connections (bench B6).
    /// </summary>
    private static unsafe bool StartConnect(SafeHandle fd, IPEndPoint endPoint)
    {
        // struct sockaddr_in: the family in host order, then the port and the address in network order.
        var address = stackalloc byte[16];
        new Span<byte>(address, 16).Clear();
        *(ushort*)address = 2 /* AF_INET */;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(address + 2, 2), (ushort)endPoint.Port);
        endPoint.Address.TryWriteBytes(new Span<byte>(address + 4, 4), out _);
        if (connect((int)fd.DangerousGetHandle(), address, 16) == 0)
        {
            return false;
        }

        var errno = Marshal.GetLastPInvokeError();
        // Interrupted, a non-blocking connect goes on in the background like one in progress.
        if (errno is Errno.Einprogress or Errno.Eintr)
        {
            return true;
        }

        throw new SocketException((int)Errno.ToSocketError(errno));
    }

    /// <summary>
    /// The outcome of a non-blocking connect, once the socket has said it is done: success unless an edge carried an error
    /// or a hang-up (what a refused, reset or timed-out connect raises), and only then SO_ERROR's reason, so that a
    /// connection that succeeds costs no getsockopt(2).
    /// </summary>
    private unsafe SocketError ConnectError()
    {
        if (!_errorSeen)
        {
            return Volatile.Read(ref _disposed) == 0 ? SocketError.Success : SocketError.OperationAborted;
        }

        if (!TryHold(out var fd))
        {
            return SocketError.OperationAborted;
        }

        try
        {
            int error = 0, length = sizeof(int);
            return getsockopt(fd, 1 /* SOL_SOCKET */, 4 /* SO_ERROR */, &error, &length) != 0 ? Errno.ToSocketError(Marshal.GetLastPInvokeError())
                : error == 0 ? SocketError.Success : Errno.ToSocketError(error);
        }
        finally
        {
            _fd.DangerousRelease();
        }
    }

    private static unsafe void SetNoDelay(SafeHandle fd)
    {
        var one = 1;
        if (setsockopt((int)fd.DangerousGetHandle(), 6 /* IPPROTO_TCP */, 1 /* TCP_NODELAY */, &one, sizeof(int)) != 0)
        {
            throw new SocketException((int)Errno.ToSocketError(Marshal.GetLastPInvokeError()));
        }
    }

    /// <summary>getpeername(2) read as struct sockaddr_in or sockaddr_in6.</summary>
    private unsafe IPEndPoint? PeerAddress()
    {
        if (!TryHold(out var fd))
        {
            return null;
        }

        var address = stackalloc byte[28];
        var length = 28;
        try
        {
            if (getpeername(fd, address, &length) != 0)
            {
                return null;
            }
        }
        finally
        {
            _fd.DangerousRelease();
        }

        var port = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(new ReadOnlySpan<byte>(address + 2, 2));
        return *(ushort*)address switch
        {
            2 /* AF_INET */ => new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(address + 4, 4)), port),
            10 /* AF_INET6 */ => new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(address + 8, 16), *(uint*)(address + 24)), port),
            _ => null,
        };
    }

    /// <summary>Holds the descriptor open for a system call (the caller releases it): false once the socket is closed.</summary>
    private bool TryHold(out int fd) => SocketDescriptor.TryHold(_fd, out fd);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getsockopt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int setsockopt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getpeername(int fd, byte* address, int* length);

    [LibraryImport("libc")]
    private static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int connect(int fd, byte* address, int length);

    private const int MsgPeek = 0x2;
    private const int MsgNoSignal = 0x4000;

    /// <summary>
    /// One recv(2) or send(2) on the socket: the bytes moved (0 at end of stream), or -1 with the error. Direct rather than
    /// through Socket.Receive and Send, whose wrappers (error translation, the runtime's native shim) were 4% of a
    /// sidecar's CPU in bench B1's profile; a closed socket is OperationAborted, as there.
    /// </summary>
    /// <remarks>recv(2) writes into <paramref name="buffer"/>: receivers pass a writable span.</remarks>
    private unsafe int Transfer(ReadOnlySpan<byte> buffer, bool send, int flags, out SocketError error)
    {
        if (!TryHold(out var fd))
        {
            error = SocketError.OperationAborted;
            return -1;
        }

        try
        {
            fixed (byte* bytes = buffer)
            {
                while (true)
                {
                    var moved = send ? Native.send(fd, bytes, buffer.Length, flags) : Native.recv(fd, bytes, buffer.Length, flags);
                    if (moved >= 0)
                    {
                        error = SocketError.Success;
                        return (int)moved;
                    }

                    // errno is read right after the call, as a SetLastError stub would (the runtime keeps it across the
                    // call's return to managed code), but only when the call failed: reading and clearing it around every
                    // call cost two more calls into the runtime's native library per receive and send.
                    if (Errno.Failed(Marshal.GetLastSystemError(), out error))
                    {
                        return -1;
                    }
                }
            }
        }
        finally
        {
            _fd.DangerousRelease();
        }
    }

    /// <summary>accept4(2): the new descriptor, or -1 with the error (WouldBlock when none is waiting).</summary>
    private unsafe int Accept(out SocketError error)
    {
        if (!TryHold(out var fd))
        {
            error = SocketError.OperationAborted;
            return -1;
        }

        try
        {
            while (true)
            {
                var accepted = Native.accept4(fd, null, null, 0x800 /* SOCK_NONBLOCK */ | 0x80000 /* SOCK_CLOEXEC */);
                if (accepted >= 0)
                {
                    error = SocketError.Success;
                    return accepted;
                }

                // A connection reset while it waited in the backlog is gone: the next one may be there (as Kestrel goes on).
                if (Marshal.GetLastPInvokeError() == 103 /* ECONNABORTED */)
                {
                    continue;
                }

                if (Errno.Failed(out error))
                {
                    return -1;
                }
            }
        }
        finally
        {
            _fd.DangerousRelease();
        }
    }

    private static unsafe partial class Native
    {
        [LibraryImport("libc", SetLastError = true)]
        public static partial int accept4(int fd, byte* address, int* length, int flags);

        // Without SetLastError: Transfer reads errno itself, only when one of these failed.
        [LibraryImport("libc")]
        public static partial nint recv(int fd, byte* buffer, nint length, int flags);

        [LibraryImport("libc")]
        public static partial nint send(int fd, byte* buffer, nint length, int flags);
    }

    /// <summary>
    /// Reads what has arrived, up to the buffer's size, waiting for the loop's next edge if the socket is drained; 0 at end
    /// of stream. An empty buffer only waits until the socket may have something to read.
    /// </summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer) => _receiver.Start(buffer);

    /// <summary>What a receive waiting for the loop ends with when <see cref="CancelReceive"/> takes it back.</summary>
    public const int ReceiveCanceled = -1;

    /// <summary>
    /// Ends a receive that waits for the loop's edge with <see cref="ReceiveCanceled"/>: false when none waits (the loop
    /// may be completing it right now, with what it read).
    /// </summary>
    public bool CancelReceive() => _receiver.TryCancel(ReceiveCanceled);

    /// <summary>
    /// Called on the loop's thread when the peer closes or resets (EPOLLRDHUP, EPOLLHUP or EPOLLERR), whether or not a read
    /// is waiting: what tells a connection that reads only on demand that its client went away. A hang-up before it is
    /// set is not reported here; the next read still ends at the FIN.
    /// </summary>
    public Action<object?>? HungUp { get; set; }

    /// <summary>The argument of <see cref="HungUp"/>.</summary>
    public object? HungUpState { get; set; }

    /// <summary>Sends all of <paramref name="buffer"/>, waiting for room as often as it takes.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> buffer)
    {
        var sending = _sender.Start(buffer);
        return sending.IsCompletedSuccessfully ? default : AwaitSend(sending);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        static async ValueTask AwaitSend(ValueTask<int> sending) => await sending;
    }

    /// <summary>
    /// Accepts a connection waiting on this listening socket, waiting for the loop's next edge if none is: the new
    /// connection's descriptor, non-blocking and closed on exec, which the caller owns.
    /// </summary>
    public ValueTask<int> AcceptAsync() => _receiver.StartAccept();

    /// <summary>
    /// Moves what has arrived, up to <paramref name="count"/> bytes, into <paramref name="pipe"/> (empty, so that "nothing
    /// now" means the socket is drained and not the pipe full) without copying it into the process; 0 at end of stream.
    /// </summary>
    public ValueTask<int> ReceiveAsync(KernelPipe pipe, int count) => _receiver.Start(pipe, count);

    /// <summary>Moves <paramref name="count"/> bytes that are in <paramref name="pipe"/> to the socket, waiting for room as often as it takes.</summary>
    public ValueTask SendAsync(KernelPipe pipe, int count)
    {
        var sending = _sender.Start(pipe, count);
        return sending.IsCompletedSuccessfully ? default : AwaitSend(sending);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        static async ValueTask AwaitSend(ValueTask<int> sending) => await sending;
    }

    /// <summary>TCP half-close or full shutdown (shutdown(2); SocketShutdown's values are SHUT_RD, SHUT_WR, SHUT_RDWR); errors are ignored, as the connection is ending either way.</summary>
    public void Shutdown(SocketShutdown how)
    {
        if (TryHold(out var fd))
        {
            _ = shutdown(fd, (int)how);
            _fd.DangerousRelease();
        }
    }

    internal void OnEvents(uint events)
    {
        if ((events & EventLoop.ReadEvents) != 0)
        {
            var hungUp = (events & EventLoop.HangUpEvents) != 0;
            if (hungUp)
            {
                _receiver.OnHangUp();
            }

            _receiver.OnEdge();
            if (hungUp)
            {
                // After the edge: a read waiting takes the last bytes before the owner hears that the peer is gone.
                HungUp?.Invoke(HungUpState);
            }
        }

        if ((events & EventLoop.WriteEvents) != 0)
        {
            if ((events & EventLoop.ErrorEvents) != 0)
            {
                _errorSeen = true;
            }

            _sender.OnEdge();
        }
    }

    /// <summary>Takes the socket off its loop and closes it; a waiting read or write fails with <see cref="SocketError.OperationAborted"/>.</summary>
    public void Dispose()
    {
        // Once only, whichever of a cancellation and the owner comes first: the loop frees the registration's handle once.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Out of the set before the close, not by it: close(2) leaves a descriptor in the set while any other copy of it
        // is open (a child between fork and exec holds every one, Process.Start's), and an edge it still raised after the
        // registration's handle was freed would reach whichever socket reused that handle.
        _loop.Unregister(_fd, _registration);
        if (_socket is not null)
        {
            _socket.Dispose();
        }
        else
        {
            _fd.Dispose();
        }

        _receiver.Abort();
        _sender.Abort();
    }

    private enum Attempt
    {
        Done,
        WouldBlock,
        Failed,
    }

    /// <summary>
    /// One direction's readiness and its one outstanding operation. <c>_edges</c> counts the loop's edges; the direction
    /// is drained while it equals <c>_drainedAt</c>, the count seen before the attempt that found it drained, so an edge
    /// that comes during that attempt is not lost. <c>_parked</c> is 1 while an operation waits; whichever of the loop and
    /// the caller takes it back to 0 owns the operation.
    /// </summary>
    private abstract class Direction(ReadinessSocket owner) : IValueTaskSource<int>
    {
        protected readonly ReadinessSocket Owner = owner;
        private ManualResetValueTaskSourceCore<int> _core;
        private int _edges;
        private int _drainedAt = -1;
        private int _parked;

        protected int Result { get; set; }

        protected Exception? Error { get; set; }

        public bool MayBeReady => Volatile.Read(ref _edges) != Volatile.Read(ref _drainedAt);

        /// <summary>Before the socket is registered: the first operation waits for the loop's first edge.</summary>
        public void StartDrained() => _drainedAt = 0;

        protected bool EdgeSeen => Volatile.Read(ref _edges) != 0;

        /// <summary>Tries the I/O once; <paramref name="drained"/> when it showed the direction has nothing more now.</summary>
        protected abstract Attempt Try(out bool drained);

        /// <summary>The first try of a parked operation, on the loop's thread, right after the edge that woke it.</summary>
        protected virtual Attempt TryOnEdge(out bool drained) => Try(out drained);

        protected ValueTask<int> Run()
        {
            while (true)
            {
                var seen = Volatile.Read(ref _edges);
                if (seen != _drainedAt)
                {
                    switch (Try(out var drained))
                    {
                        case Attempt.Done:
                            if (drained)
                            {
                                _drainedAt = seen;
                            }

                            return new ValueTask<int>(Result);
                        case Attempt.Failed:
                            return ValueTask.FromException<int>(Error!);
                        default:
                            _drainedAt = seen;
                            break;
                    }
                }

                _core.Reset();
                Interlocked.Exchange(ref _parked, 1);
                if (Volatile.Read(ref Owner._disposed) != 0)
                {
                    if (Interlocked.CompareExchange(ref _parked, 0, 1) == 1)
                    {
                        return ValueTask.FromException<int>(Aborted());
                    }

                    return new ValueTask<int>(this, _core.Version);
                }

                if (Volatile.Read(ref _edges) == seen || Interlocked.CompareExchange(ref _parked, 0, 1) == 0)
                {
                    return new ValueTask<int>(this, _core.Version);
                }

                // An edge came while parking and the loop did not take the operation: try again here.
            }
        }

        /// <summary>On the loop's thread.</summary>
        public void OnEdge()
        {
            Interlocked.Increment(ref _edges);
            if (Volatile.Read(ref _parked) == 1 && Interlocked.CompareExchange(ref _parked, 0, 1) == 1)
            {
                Resume();
            }
        }

        private void Resume()
        {
            for (var first = true; ; first = false)
            {
                var seen = Volatile.Read(ref _edges);
                switch (first ? TryOnEdge(out var drained) : Try(out drained))
                {
                    case Attempt.Done:
                        if (drained)
                        {
                            _drainedAt = seen;
                        }

                        _core.SetResult(Result);
                        return;
                    case Attempt.Failed:
                        _core.SetException(Error!);
                        return;
                    default:
                        _drainedAt = seen;
                        Interlocked.Exchange(ref _parked, 1);
                        if (Volatile.Read(ref Owner._disposed) != 0)
                        {
                            // Closed from another thread (a timeout) while this attempt ran: its Abort found nothing parked.
                            if (Interlocked.CompareExchange(ref _parked, 0, 1) == 1)
                            {
                                _core.SetException(Aborted());
                            }

                            return;
                        }

                        if (Volatile.Read(ref _edges) == seen || Interlocked.CompareExchange(ref _parked, 0, 1) == 0)
                        {
                            return;
                        }

                        break;
                }
            }
        }

        public void Abort()
        {
            if (Interlocked.CompareExchange(ref _parked, 0, 1) == 1)
            {
                _core.SetException(Aborted());
            }
        }

        /// <summary>Completes the waiting operation with <paramref name="result"/> instead of its I/O; false when none waits.</summary>
        public bool TryCancel(int result)
        {
            if (Interlocked.CompareExchange(ref _parked, 0, 1) != 1)
            {
                return false;
            }

            _core.SetResult(result);
            return true;
        }

        private static SocketException Aborted() => new((int)SocketError.OperationAborted);

        protected Attempt Fail(SocketError error)
        {
            Error = new SocketException((int)error);
            return Attempt.Failed;
        }

        /// <summary>A system call that did not succeed: it would have blocked, or it failed.</summary>
        protected Attempt Unfinished(SocketError error) => error == SocketError.WouldBlock ? Attempt.WouldBlock : Fail(error);

        public int GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    private sealed class Receiver(ReadinessSocket owner) : Direction(owner)
    {
        private Memory<byte> _buffer;
        private volatile bool _hungUp;
        private KernelPipe? _pipe;
        private int _count;
        private bool _accepting;

        public ValueTask<int> Start(Memory<byte> buffer)
        {
            _buffer = buffer;
            _pipe = null;
            _accepting = false;
            return Run();
        }

        public ValueTask<int> Start(KernelPipe pipe, int count)
        {
            _pipe = pipe;
            _count = count;
            _accepting = false;
            return Run();
        }

        public ValueTask<int> StartAccept()
        {
            _pipe = null;
            _accepting = true;
            return Run();
        }

        /// <summary>
        /// The peer closed or reset (on the loop's thread, before the edge is counted). From then on a short read does not
        /// mean drained: bytes and a FIN that came in one edge would otherwise leave the FIN unread, with no edge to come.
        /// </summary>
        public void OnHangUp() => _hungUp = true;

        protected override Attempt Try(out bool drained)
        {
            drained = false;
            if (_accepting)
            {
                // Only "none waiting" says the backlog is empty, which Run takes as drained.
                var accepted = Owner.Accept(out var acceptError);
                if (accepted < 0)
                {
                    return Unfinished(acceptError);
                }

                Result = accepted;
                return Attempt.Done;
            }

            if (_pipe is not null)
            {
                // A short splice does not say the socket is drained (the pipe's slots may have run out first): only
                // "nothing now" does, which Run takes as drained.
                var moved = _pipe.SpliceIn(Owner._fd, _count, out var error);
                if (moved < 0)
                {
                    return Unfinished(error);
                }

                Result = moved;
                return Attempt.Done;
            }

            if (_buffer.IsEmpty)
            {
                return TryPeek();
            }

            var received = Owner.Transfer(_buffer.Span, send: false, flags: 0, out var failure);
            if (received < 0)
            {
                return Unfinished(failure);
            }

            // A FIN stays readable: every later read returns 0 at once.
            drained = received > 0 && received < _buffer.Length && !_hungUp;
            Result = received;
            return Attempt.Done;
        }

        /// <summary>
        /// A zero-byte read parked until an edge completes on that edge without a system call: the edge says bytes came
        /// (or the peer closed) after the last read found none, and the caller's next read finds out which. Rarely the
        /// bytes were already taken by a read that raced the edge; that read then waits again, so the cost is one wake.
        /// SslStream waits this way before each record, so a TLS connection saves a recvfrom per read.
        /// </summary>
        protected override Attempt TryOnEdge(out bool drained)
        {
            if (!_accepting && _pipe is null && _buffer.IsEmpty)
            {
                drained = false;
                Result = 0;
                return Attempt.Done;
            }

            return Try(out drained);
        }

        /// <summary>
        /// A zero-byte read waits until there is something to read, as on NetworkStream (where SslStream and
        /// SocketsHttpHandler use it to wait without holding a buffer). Unless an edge just woke it (above), it peeks at
        /// one byte rather than trust the readiness alone: an edge can announce bytes an earlier read already took.
        /// </summary>
        private Attempt TryPeek()
        {
            Span<byte> peeked = stackalloc byte[1];
            if (Owner.Transfer(peeked, send: false, flags: MsgPeek, out var error) < 0)
            {
                return Unfinished(error);
            }

            Result = 0;
            return Attempt.Done;
        }
    }

    private sealed class Sender(ReadinessSocket owner) : Direction(owner)
    {
        private ReadOnlyMemory<byte> _buffer;
        private KernelPipe? _pipe;
        private int _count;
        private int _sent;
        private bool _connecting;

        public ValueTask<int> Start(ReadOnlyMemory<byte> buffer)
        {
            _buffer = buffer;
            _pipe = null;
            _sent = 0;
            _connecting = false;
            return Run();
        }

        public ValueTask<int> Start(KernelPipe pipe, int count)
        {
            _pipe = pipe;
            _count = count;
            _sent = 0;
            _connecting = false;
            return Run();
        }

        /// <summary>Waits for the first writable edge: a non-blocking connect finished, either way.</summary>
        public async ValueTask WaitAsync()
        {
            _connecting = true;
            try
            {
                await Run();
            }
            finally
            {
                _connecting = false;
            }
        }

        protected override Attempt Try(out bool drained)
        {
            drained = false;
            if (_connecting)
            {
                // The socket was registered after connect() began, so its first edge is the connect's outcome.
                return EdgeSeen ? Attempt.Done : Attempt.WouldBlock;
            }

            if (_pipe is not null)
            {
                return TrySplice();
            }

            while (_sent < _buffer.Length)
            {
                var sent = Owner.Transfer(_buffer.Span[_sent..], send: true, flags: MsgNoSignal, out var error);
                if (sent < 0)
                {
                    return Unfinished(error);
                }

                _sent += sent;
                if (_sent < _buffer.Length)
                {
                    // The send buffer is full: wait for room rather than find it full once more.
                    return Attempt.WouldBlock;
                }
            }

            Result = _sent;
            return Attempt.Done;
        }

        /// <summary>
        /// Unlike send(), a short splice to a socket does not prove its buffer full, so only "no room now" waits for the
        /// loop's next edge (an edge that would not come if the buffer had room all along).
        /// </summary>
        private Attempt TrySplice()
        {
            while (_sent < _count)
            {
                var moved = _pipe!.SpliceOut(Owner._fd, _count - _sent, out var error);
                if (moved < 0)
                {
                    return Unfinished(error);
                }

                if (moved == 0)
                {
                    // The pipe holds less than the caller said it put there: nothing would ever finish this send.
                    return Fail(SocketError.NoData);
                }

                _sent += moved;
            }

            Result = _sent;
            return Attempt.Done;
        }
    }
}
