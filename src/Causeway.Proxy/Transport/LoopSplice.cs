using System.Buffers;
using System.Net.Sockets;

namespace Causeway.Proxy.Transport;

/// <summary>
/// Moves bytes both ways between two sockets on an <see cref="EventLoop"/>: with splice(2) through a
/// <see cref="KernelPipe"/> per direction, so that they never enter the process (HAProxy's splice), or else through a
/// pooled buffer. Each direction reads what has arrived and writes all of it out before reading again; it runs until
/// its source ends and then half-closes its destination, as <see cref="Splice"/> does for Kestrel's connections; an
/// error in either direction ends both.
/// </summary>
public static class LoopSplice
{
    /// <summary>What each direction reads at a time when it copies (<see cref="Splice"/>'s reads are the same).</summary>
    private const int CopyBytes = 16 * 1024;

    /// <summary>Splices <paramref name="client"/> and <paramref name="upstream"/> until both directions have ended: the bytes each way.</summary>
    public static async Task<(long Received, long Sent)> RunAsync(ReadinessSocket client, ReadinessSocket upstream, bool zeroCopy)
    {
        var toUpstream = zeroCopy ? SpliceAsync(client, upstream) : CopyAsync(client, upstream);
        var toClient = zeroCopy ? SpliceAsync(upstream, client) : CopyAsync(upstream, client);
        return (await toUpstream, await toClient);
    }

    private static async Task<long> SpliceAsync(ReadinessSocket from, ReadinessSocket to)
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

    private static async Task<long> CopyAsync(ReadinessSocket from, ReadinessSocket to)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBytes);
        long total = 0;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer);
                if (read == 0)
                {
                    break;
                }

                await to.SendAsync(buffer.AsMemory(0, read));
                total += read;
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            End(from, to);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return total;
    }

    private static void End(ReadinessSocket a, ReadinessSocket b)
    {
        a.Shutdown(SocketShutdown.Both);
        b.Shutdown(SocketShutdown.Both);
    }
}
