using System.Net;
using System.Net.Sockets;

namespace Causeway.Testing;

/// <summary>
/// Hands out loopback addresses (127.x.y.z) unique to this test process, so that every control plane, proxy and pod
/// keeps its real port numbers without colliding with another test running at the same time.
/// </summary>
public static class LoopbackAddresses
{
    private static readonly int Block = 20 + (Environment.ProcessId % 200);
    private static int _next;

    /// <summary>A loopback address on which none of <paramref name="ports"/> is in use.</summary>
    public static IPAddress Next(params int[] ports)
    {
        while (true)
        {
            var n = Interlocked.Increment(ref _next);
            var address = new IPAddress([127, (byte)Block, (byte)(n / 250), (byte)((n % 250) + 1)]);
            if (ports.All(p => IsFree(address, p)))
            {
                return address;
            }
        }
    }

    private static bool IsFree(IPAddress address, int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
