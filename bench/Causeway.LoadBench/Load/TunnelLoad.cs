using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Causeway.LoadBench.Load;

/// <summary>
/// B5's load on the calling side of Causeway's pair: loops that each open a TCP connection to the source sidecar's
/// outbound port and ask it for an HTTP CONNECT tunnel to the mesh service, which the sidecar carries over a new mesh
/// mTLS connection of its own (ALPN istio) to the destination sidecar; one HTTP/1.1 request through the tunnel, the
/// answer read to its length, the connection closed by the client, then the next. Each loop's connection is a full handshake the
/// source sidecar makes as a TLS client.
/// </summary>
public sealed class TunnelLoad(IPEndPoint entry, string host)
{
    private readonly byte[] _connect = Encoding.ASCII.GetBytes($"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    private readonly byte[] _request = Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");

    /// <summary>Why the last failed connection failed, for the log.</summary>
    public string? LastError { get; private set; }

    /// <summary>Opens, tunnels, asks, reads and closes, over and over on <paramref name="concurrency"/> loops, for <paramref name="duration"/> (each loop at least once).</summary>
    public Task<(long Completed, long Errors)> RunAsync(int concurrency, TimeSpan duration) =>
        ConnectionLoops.RunAsync(concurrency, duration, 16 * 1024, OneAsync,
            e => e is SocketException or IOException or OperationCanceledException, why => LastError = why);

    /// <summary>True when the tunnel was granted and the answer through it was a 200.</summary>
    private async Task<bool> OneAsync(byte[] buffer)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(entry, timeout.Token);
        await socket.SendAsync(_connect, timeout.Token);
        var total = 0;
        while (buffer.AsSpan(0, total).IndexOf("\r\n\r\n"u8) < 0)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(total), timeout.Token);
            if (read == 0 || (total += read) == buffer.Length)
            {
                return false;
            }
        }

        if (total < 12 || !buffer.AsSpan(9, 3).SequenceEqual("200"u8))
        {
            return false;
        }

        await socket.SendAsync(_request, timeout.Token);
        total = 0;
        while (true)
        {
            // The answer ends at its length, and the client closes: a tunnel does not wait for the backend's close.
            var length = HttpResponseReader.TryRead(buffer.AsSpan(0, total), out var status);
            if (length != 0)
            {
                return length > 0 && status == 200;
            }

            var read = await socket.ReceiveAsync(buffer.AsMemory(total), timeout.Token);
            if (read == 0 || (total += read) == buffer.Length)
            {
                return false;
            }
        }
    }
}
