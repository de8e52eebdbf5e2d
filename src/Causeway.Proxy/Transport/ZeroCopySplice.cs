using System.IO.Pipelines;
using System.Net.Sockets;

namespace Causeway.Proxy.Transport;

/// <summary>
/// Moves bytes both ways between two sockets on an <see cref="EventLoop"/> with splice(2) through a <see cref="KernelPipe"/>
/// per direction, so they never enter the process (HAProxy's splice). Each direction reads what has arrived into its
/// pipe and writes all of it out before reading again; it runs until its source ends and then half-closes its
/// destination, as <see cref="Splice"/> does in user space; an error in either direction ends both.
/// </summary>
public static class ZeroCopySplice
{
    /// <summary>
    /// Splices <paramref name="client"/> and <paramref name="upstream"/>, after sending upstream the bytes the client's
    /// connection had already received (<paramref name="received"/>, which is left read).
    /// </summary>
    public static async Task<(long Received, long Sent)> RunAsync(ReadinessSocket client, PipeReader received, ReadinessSocket upstream)
    {
        long early = 0;
        try
        {
            if (received.TryRead(out var result))
            {
                foreach (var segment in result.Buffer)
                {
                    await upstream.SendAsync(segment);
                    early += segment.Length;
                }

                received.AdvanceTo(result.Buffer.End);
            }
        }
        catch (SocketException)
        {
            End(client, upstream);
            return (early, 0);
        }

        var toUpstream = PumpAsync(client, upstream);
        var toClient = PumpAsync(upstream, client);
        return (early + await toUpstream, await toClient);
    }

    private static async Task<long> PumpAsync(ReadinessSocket from, ReadinessSocket to)
    {
        var pipe = KernelPipe.Rent();
        long total = 0;
        try
        {
            while (true)
            {
                var moved = await from.ReceiveAsync(pipe, pipe.Capacity);
                if (moved == 0)
                {
                    break;
                }

                await to.SendAsync(pipe, moved);
                total += moved;
            }
        }
        catch (SocketException)
        {
            // The pipe may still hold bytes, so it is not reused; the other direction is woken by the shutdown.
            pipe.Dispose();
            End(from, to);
            return total;
        }

        to.Shutdown(SocketShutdown.Send);
        KernelPipe.Return(pipe);
        return total;
    }

    private static void End(ReadinessSocket a, ReadinessSocket b)
    {
        a.Shutdown(SocketShutdown.Both);
        b.Shutdown(SocketShutdown.Both);
    }
}
