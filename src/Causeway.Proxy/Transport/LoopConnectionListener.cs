using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Transport;

/// <summary>
/// A listening TCP socket whose accepted connections go onto the shared <see cref="EventLoop"/>s as
/// <see cref="LoopConnection"/>s. Accepting stays on .NET's socket engine: an accept is rare next to the reads and
/// writes of what it accepts, and the accepted socket is never given to that engine.
/// </summary>
public sealed class LoopConnectionListener : IConnectionListener
{
    private readonly Socket _socket;
    private readonly LoopTransportOptions _options;

    public LoopConnectionListener(IPEndPoint endPoint, LoopTransportOptions options)
    {
        _options = options;
        _socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                _socket.DualMode = true;
            }

            _socket.Bind(endPoint);
            _socket.Listen(options.Backlog);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            _socket.Dispose();
            throw new AddressInUseException(e.Message, e);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }

        EndPoint = _socket.LocalEndPoint!;
    }

    public EndPoint EndPoint { get; }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await _socket.AcceptAsync(cancellationToken);
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
            {
                return null;
            }
            catch (SocketException)
            {
                // The client reset the connection before it was accepted: go on to the next one, as Kestrel does.
                continue;
            }

            try
            {
                return new LoopConnection(accepted, EventLoop.Pick(), _options);
            }
            catch (Exception e) when (e is SocketException or System.ComponentModel.Win32Exception or ObjectDisposedException)
            {
                // It closed between accept and registration, or the descriptor could not join the loop.
                accepted.Dispose();
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _socket.Dispose();
        return default;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return default;
    }
}
