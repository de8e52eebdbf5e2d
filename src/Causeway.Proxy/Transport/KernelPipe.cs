using System.ComponentModel;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Causeway.Proxy.Transport;

/// <summary>
/// A non-blocking kernel pipe that splice(2) moves a socket's bytes through to another socket without copying them into
/// the process: HAProxy's <c>option splice-request</c>/<c>splice-response</c>. Pipes are pooled as HAProxy pools them,
/// since a connection that lasts a few milliseconds would otherwise spend four system calls opening and closing two.
/// </summary>
public sealed partial class KernelPipe : IDisposable
{
    /// <summary>Idle pipes kept for reuse; each holds two descriptors (HAProxy's <c>tune.maxpipes</c> defaults to a quarter of maxconn).</summary>
    public const int MaxPooled = 64;

    private const uint SpliceMove = 1;
    private const uint SpliceNonblock = 2;

    private static readonly Lock PoolLock = new();
    private static readonly KernelPipe[] Pool = new KernelPipe[MaxPooled];
    private static int _pooled;

    private readonly int _read;
    private readonly int _write;

    private unsafe KernelPipe()
    {
        var fds = stackalloc int[2];
        if (pipe2(fds, 0x80000 /* O_CLOEXEC */ | 0x800 /* O_NONBLOCK */) != 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "pipe2 failed");
        }

        _read = fds[0];
        _write = fds[1];
        var size = fcntl(_write, 1032 /* F_GETPIPE_SZ */, 0);
        Capacity = size > 0 ? size : 64 * 1024;
    }

    /// <summary>How many idle pipes wait in the pool.</summary>
    internal static int Pooled => Volatile.Read(ref _pooled);

    /// <summary>How many bytes the pipe holds at most (the kernel's default, 64 KiB).</summary>
    public int Capacity { get; }

    /// <summary>An empty pipe from the pool, or a new one.</summary>
    public static KernelPipe Rent()
    {
        lock (PoolLock)
        {
            if (_pooled > 0)
            {
                var pipe = Pool[--_pooled];
                Pool[_pooled] = null!;
                return pipe;
            }
        }

        return new KernelPipe();
    }

    /// <summary>Gives back a pipe with nothing in it (a pipe that may still hold bytes must be disposed instead).</summary>
    public static void Return(KernelPipe pipe)
    {
        lock (PoolLock)
        {
            if (_pooled < MaxPooled)
            {
                Pool[_pooled++] = pipe;
                return;
            }
        }

        pipe.Dispose();
    }

    /// <summary>
    /// Moves up to <paramref name="count"/> bytes from <paramref name="socket"/> into the pipe: the count moved, 0 at end of
    /// stream, -1 when the socket has nothing now (or the pipe no room).
    /// </summary>
    internal int SpliceIn(SafeHandle socket, int count, out SocketError error) => Splice(socket, fromSocket: true, count, out error);

    /// <summary>Moves up to <paramref name="count"/> bytes from the pipe to <paramref name="socket"/>: the count moved, -1 when the socket has no room now.</summary>
    internal int SpliceOut(SafeHandle socket, int count, out SocketError error) => Splice(socket, fromSocket: false, count, out error);

    private unsafe int Splice(SafeHandle socket, bool fromSocket, int count, out SocketError error)
    {
        if (!SocketDescriptor.TryHold(socket, out var fd))
        {
            error = SocketError.OperationAborted;
            return -1;
        }

        try
        {
            while (true)
            {
                var moved = fromSocket
                    ? splice(fd, null, _write, null, (nuint)count, SpliceMove | SpliceNonblock)
                    : splice(_read, null, fd, null, (nuint)count, SpliceMove | SpliceNonblock);
                if (moved >= 0)
                {
                    error = SocketError.Success;
                    return (int)moved;
                }

                if (Errno.Failed(out error))
                {
                    return -1;
                }
            }
        }
        finally
        {
            socket.DangerousRelease();
        }
    }

    public void Dispose()
    {
        _ = close(_read);
        _ = close(_write);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
