using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Causeway.Proxy.Transport;

/// <summary>
/// A TCP socket's descriptor opened with the system calls themselves (accept4, socket), non-blocking from the start and
/// closed with close(2). Not a .NET <see cref="Socket"/>: its constructor from a descriptor asks the kernel eight
/// questions about it (type, protocol, addresses, blocking mode), and setting it non-blocking two more, a third of the
/// system calls of a connection through the gateway (bench B6).
/// </summary>
internal sealed partial class SocketDescriptor : SafeHandle
{
    private const int SockStream = 1;
    private const int SockNonBlock = 0x800;
    private const int SockCloexec = 0x80000;

    /// <summary>Owns <paramref name="fd"/>, a descriptor the caller opened.</summary>
    public SocketDescriptor(int fd)
        : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    /// <summary>A new non-blocking IPv4 TCP socket.</summary>
    public static SocketDescriptor OpenTcp4()
    {
        var fd = socket(2 /* AF_INET */, SockStream | SockNonBlock | SockCloexec, 6 /* IPPROTO_TCP */);
        return fd >= 0 ? new SocketDescriptor(fd) : throw new SocketException((int)Errno.ToSocketError(Marshal.GetLastPInvokeError()));
    }

    /// <summary>
    /// Holds <paramref name="handle"/> open for a system call on its descriptor, so that a close from another thread waits
    /// for it (the caller releases it with DangerousRelease): false once the handle is closed.
    /// </summary>
    public static bool TryHold(SafeHandle handle, out int fd)
    {
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
        }

        fd = added ? (int)handle.DangerousGetHandle() : -1;
        return added;
    }

    protected override bool ReleaseHandle() => close((int)handle) == 0;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
