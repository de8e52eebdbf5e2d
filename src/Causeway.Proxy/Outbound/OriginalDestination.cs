using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// Where a connection was going before iptables REDIRECT sent it to this listener: <c>SO_ORIGINAL_DST</c> read from
/// conntrack, as Envoy's original_dst listener filter does. Null when the connection was not redirected.
/// </summary>
public static class OriginalDestination
{
    private const int SolIp = 0;
    private const int SoOriginalDst = 80;

    public static IPEndPoint? Of(ConnectionContext connection) =>
        connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket ? Of(socket) : null;

    public static IPEndPoint? Of(Socket socket)
    {
        if (socket.AddressFamily != AddressFamily.InterNetwork || socket.LocalEndPoint is not IPEndPoint local)
        {
            return null;
        }

        Span<byte> address = stackalloc byte[16];
        try
        {
            if (socket.GetRawSocketOption(SolIp, SoOriginalDst, address) < 8)
            {
                return null;
            }
        }
        catch (SocketException)
        {
            // ENOENT: conntrack has no entry, so nothing rewrote the destination.
            return null;
        }

        // struct sockaddr_in: family, port (network order), address.
        var original = new IPEndPoint(new IPAddress(address.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(address[2..]));
        return original.Equals(local) ? null : original;
    }
}
