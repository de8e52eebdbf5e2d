using System.Collections.Concurrent;
using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Causeway.Proxy.Transport;

/// <summary>
/// One thread waiting in an edge-triggered epoll set for the <see cref="ReadinessSocket"/>s registered on it, and running
/// the reads and writes they were waiting for, with their continuations, on that thread. A socket is registered once,
/// for reading and writing both, and never re-armed: each edge only says "something changed", and the socket itself
/// remembers whether it may have bytes to read or room to write (see <see cref="ReadinessSocket"/>).
/// </summary>
public sealed unsafe partial class EventLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const int Eintr = 4;

    /// <summary>Readable, or the peer closed or reset: every reader has something to learn.</summary>
    internal const uint ReadEvents = 0x001 /* EPOLLIN */ | 0x008 /* EPOLLERR */ | 0x010 /* EPOLLHUP */ | 0x2000 /* EPOLLRDHUP */;

    /// <summary>The peer closed its sending side or the connection: no more bytes will come after what is there.</summary>
    internal const uint HangUpEvents = 0x008 /* EPOLLERR */ | 0x010 /* EPOLLHUP */ | 0x2000 /* EPOLLRDHUP */;

    /// <summary>Broken: a pending error, or both directions closed (a refused or reset connection).</summary>
    internal const uint ErrorEvents = 0x008 /* EPOLLERR */ | 0x010 /* EPOLLHUP */;

    /// <summary>Writable, or broken: a writer waiting for room learns either way.</summary>
    internal const uint WriteEvents = 0x004 /* EPOLLOUT */ | 0x008 /* EPOLLERR */ | 0x010 /* EPOLLHUP */;

    private const uint Registered = 0x001 | 0x004 | 0x2000 | (1u << 31) /* EPOLLET */;

    private static readonly Lazy<EventLoop[]> SharedLoops = new(() =>
    {
        // As .NET's own socket engines with inline completions: one loop per CPU the process may use, each running its
        // sockets' work to the end, so a proxy given one CPU has one thread doing everything.
        var loops = new EventLoop[Math.Clamp(Environment.ProcessorCount, 1, 16)];
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = new EventLoop($"causeway-loop-{i}");
        }

        return loops;
    });

    [ThreadStatic]
    private static EventLoop? _current;

    private static int _next;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<GCHandle> _released = new();
    private volatile bool _stopping;

    /// <summary>Starts a loop on its own thread (the shared loops are <see cref="Pick"/>'s; tests make their own).</summary>
    public EventLoop(string name)
    {
        _epoll = epoll_create1(0x80000 /* EPOLL_CLOEXEC */);
        if (_epoll < 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "epoll_create1 failed");
        }

        _wake = eventfd(0, 0x80000 | 0x800 /* EFD_CLOEXEC | EFD_NONBLOCK */);
        var wake = new EpollEvent { Events = 0x001, Data = 0 };
        if (_wake < 0 || epoll_ctl(_epoll, EpollCtlAdd, _wake, &wake) != 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "eventfd for the event loop failed");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.UnsafeStart();
    }

    /// <summary>
    /// The loop a new socket goes on: the calling loop's own, so that a request's client and upstream connections are served
    /// by one thread without handing work over, or else the next shared loop in turn.
    /// </summary>
    public static EventLoop Pick() => _current ?? Next();

    /// <summary>The next shared loop in turn, wherever the caller runs: how a listener on one loop spreads what it accepts.</summary>
    public static EventLoop Next()
    {
        var loops = SharedLoops.Value;
        return loops.Length == 1 ? loops[0] : loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
    }

    internal GCHandle Register(ReadinessSocket socket, SafeHandle fd)
    {
        var handle = GCHandle.Alloc(socket);
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            var ev = new EpollEvent { Events = Registered, Data = (ulong)GCHandle.ToIntPtr(handle) };
            if (epoll_ctl(_epoll, EpollCtlAdd, (int)fd.DangerousGetHandle(), &ev) != 0)
            {
                var error = Marshal.GetLastPInvokeError();
                handle.Free();
                throw new Win32Exception(error, "epoll_ctl(ADD) failed");
            }
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }

        return handle;
    }

    /// <summary>
    /// Takes a socket out of the set before it is closed. Its handle is freed by the loop after the batch of events it is
    /// in, since that batch may still name it.
    /// </summary>
    internal void Unregister(SafeHandle fd, GCHandle handle)
    {
        var added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            var ev = default(EpollEvent);
            epoll_ctl(_epoll, EpollCtlDel, (int)fd.DangerousGetHandle(), &ev);
        }
        catch (ObjectDisposedException)
        {
            // Closed already, which took it out of the set.
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }

        _released.Enqueue(handle);
    }

    private void Run()
    {
        _current = this;
        var events = stackalloc EpollEvent[MaxEvents];
        while (!_stopping)
        {
            var count = epoll_wait(_epoll, events, MaxEvents, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == Eintr)
                {
                    continue;
                }

                Environment.FailFast($"epoll_wait failed: {new Win32Exception(Marshal.GetLastPInvokeError()).Message}");
            }

            for (var i = 0; i < count; i++)
            {
                if (events[i].Data == 0)
                {
                    continue;
                }

                if (GCHandle.FromIntPtr((nint)events[i].Data).Target is ReadinessSocket socket)
                {
                    try
                    {
                        socket.OnEvents(events[i].Events);
                    }
                    catch (Exception e)
                    {
                        // A continuation's fault belongs to its own task; one that escapes must not stop every other socket.
                        Console.Error.WriteLine($"causeway: unexpected error on the event loop: {e}");
                    }
                }
            }

            while (_released.TryDequeue(out var handle))
            {
                handle.Free();
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        ulong one = 1;
        _ = write(_wake, &one, sizeof(ulong));
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        _ = close(_wake);
        _ = close(_epoll);
        while (_released.TryDequeue(out var handle))
        {
            handle.Free();
        }
    }

    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    private struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, EpollEvent* events, int maxEvents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, void* buffer, nint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
