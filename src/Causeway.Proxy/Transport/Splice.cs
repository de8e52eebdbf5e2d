using System.IO.Pipelines;
using System.Net.Sockets;
using Causeway.Proxy.Security.OpenSsl;

namespace Causeway.Proxy.Transport;

/// <summary>
/// Copies bytes both ways between a connection's pipes and an upstream (a socket, or a mesh TLS stream). Each direction
/// runs until its source ends and then half-closes its destination, so a peer that shuts down its sending side still
/// gets its answer; an error in either direction ends both.
/// </summary>
public static class Splice
{
    /// <summary>Splices to a socket; a finished direction ends with a TCP half-close.</summary>
    public static async Task<(long Received, long Sent)> RunAsync(IDuplexPipe client, Socket upstream)
    {
        await using var stream = new NetworkStream(upstream, ownsSocket: false);
        return await RunAsync(client, stream);
    }

    /// <summary>
    /// Splices to a mesh TLS stream (a finished direction ends with TLS close_notify) or a plain network stream (with
    /// a TCP half-close).
    /// </summary>
    public static Task<(long Received, long Sent)> RunAsync(IDuplexPipe client, Stream upstream) => upstream switch
    {
        OpenSslStream tls => RunAsync(client, tls, () => tls.ShutdownAsync(CancellationToken.None).AsTask()),
        NetworkStream plain => RunAsync(client, plain, () =>
        {
            plain.Socket.Shutdown(SocketShutdown.Send);
            return Task.CompletedTask;
        }),
        _ => throw new ArgumentException($"cannot half-close a {upstream.GetType().Name}", nameof(upstream)),
    };

    private static async Task<(long Received, long Sent)> RunAsync(IDuplexPipe client, Stream upstream, Func<Task> halfClose)
    {
        using var failed = new CancellationTokenSource();
        var toUpstream = ToUpstreamAsync(client.Input, upstream, halfClose, failed);
        var toClient = ToClientAsync(upstream, client.Output, failed);
        var results = await Task.WhenAll(toUpstream, toClient);
        return (results[0], results[1]);
    }

    private static async Task<long> ToUpstreamAsync(PipeReader reader, Stream upstream, Func<Task> halfClose, CancellationTokenSource failed)
    {
        long total = 0;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(failed.Token);
                foreach (var segment in result.Buffer)
                {
                    await upstream.WriteAsync(segment, failed.Token);
                    total += segment.Length;
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            await halfClose();
            await reader.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            await reader.CompleteAsync(e);
            await failed.CancelAsync();
        }

        return total;
    }

    private static async Task<long> ToClientAsync(Stream upstream, PipeWriter writer, CancellationTokenSource failed)
    {
        long total = 0;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(16 * 1024);
                var read = await upstream.ReadAsync(memory, failed.Token);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);
                total += read;
                var flush = await writer.FlushAsync(failed.Token);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }

            await writer.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            await writer.CompleteAsync(e);
            await failed.CancelAsync();
        }

        return total;
    }
}
