using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Causeway.Proxy.Transport;

/// <summary>Linux error numbers of the socket system calls made directly, as .NET names them in a <see cref="SocketException"/>.</summary>
internal static class Errno
{
    public const int Eintr = 4;
    public const int Eagain = 11;
    public const int Einprogress = 115;

    /// <summary>
    /// After a system call on a socket returned -1: false when it was interrupted and is to be made again; else true, with
    /// its error as .NET names it (WouldBlock for "nothing now").
    /// </summary>
    public static bool Failed(out SocketError error) => Failed(Marshal.GetLastPInvokeError(), out error);

    /// <summary>The same, given the call's errno.</summary>
    public static bool Failed(int errno, out SocketError error)
    {
        error = errno == Eagain ? SocketError.WouldBlock : ToSocketError(errno);
        return errno != Eintr;
    }

    public static SocketError ToSocketError(int errno) => errno switch
    {
        9 /* EBADF */ => SocketError.OperationAborted,
        13 /* EACCES */ => SocketError.AccessDenied,
        23 /* ENFILE */ or 24 /* EMFILE */ => SocketError.TooManyOpenSockets,
        32 /* EPIPE */ => SocketError.Shutdown,
        99 /* EADDRNOTAVAIL */ => SocketError.AddressNotAvailable,
        101 /* ENETUNREACH */ => SocketError.NetworkUnreachable,
        103 /* ECONNABORTED */ => SocketError.ConnectionAborted,
        104 /* ECONNRESET */ => SocketError.ConnectionReset,
        12 /* ENOMEM */ or 105 /* ENOBUFS */ => SocketError.NoBufferSpaceAvailable,
        107 /* ENOTCONN */ => SocketError.NotConnected,
        108 /* ESHUTDOWN */ => SocketError.Shutdown,
        110 /* ETIMEDOUT */ => SocketError.TimedOut,
        111 /* ECONNREFUSED */ => SocketError.ConnectionRefused,
        113 /* EHOSTUNREACH */ => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };
}
