using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Causeway.Proxy.Transport;

/// <summary>
/// Moves bytes both ways between two sockets on an <see cref="EventLoop"/>: with splice(2) through a
/// <see cref="KernelPipe"/> per direction, so that they never enter the process (HAProxy's splice), or else through a
/// pooled buffer. Each direction reads what has arrived and writes all of it out before reading again; it runs until
/// its source ends and then half-closes its destination, as <see cref="Splice"/> does for Kestrel's connections, except
/// the direction that ends last: both sockets are then finished, and the close their owner makes next sends that FIN
/// (one shutdown(2) per connection less, as HAProxy). An error in either direction ends both.
/// </summary>
public static class LoopSplice
{
    /// <summary>What each direction reads at a time when it copies (<see cref="Splice"/>'s reads are the same).</summary>
    private const int CopyBytes = 16 * 1024;

    /// <summary>
    /// Splices <paramref name="client"/> and <paramref name="upstream"/> until both directions have ended: the bytes each
    /// way. The caller closes both sockets once it returns, which ends the direction that finished last.
    /// </summary>
    public static async Task<(long Received, long Sent)> RunAsync(ReadinessSocket client, ReadinessSocket upstream, bool zeroCopy)
    {
        var ended = new StrongBox<int>();
        var toUpstream = zeroCopy ? SpliceAsync(client, upstream, ended) : CopyAsync(client, upstream, ended);
        var toClient = zeroCopy ? SpliceAsync(upstream, client, ended) : CopyAsync(upstream, client, ended);
        return (await toUpstream, await toClient);
    }

    /// <summary>
    /// Half-closes <paramref name="to"/> after its source ended, unless the other direction ended first: then this was the
    /// last one, and the close that follows sends the FIN.
    /// </summary>
    private static void Finish(ReadinessSocket to, StrongBox<int> ended)
    {
        if (Interlocked.Increment(ref ended.Value) == 1)
        {
            to.Shutdown(SocketShutdown.Send);
        }
    }

    private static async Task<long> SpliceAsync(ReadinessSocket from, ReadinessSocket to, StrongBox<int> ended)
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
            End(from, to, ended);
            return total;
        }

        Finish(to, ended);
        KernelPipe.Return(pipe);
        return total;
    }

    private static async Task<long> CopyAsync(ReadinessSocket from, ReadinessSocket to, StrongBox<int> ended)
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

            Finish(to, ended);
        }
        catch (SocketException)
        {
            End(from, to, ended);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return total;
    }

    private static void End(ReadinessSocket a, ReadinessSocket b, StrongBox<int> ended)
    {
        Interlocked.Increment(ref ended.Value);
        a.Shutdown(SocketShutdown.Both);
        b.Shutdown(SocketShutdown.Both);
    }
}
