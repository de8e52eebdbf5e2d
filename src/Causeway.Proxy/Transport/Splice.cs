using System.IO.Pipelines;
using System.Net.Sockets;

namespace Causeway.Proxy.Transport;

/// <summary>
/// Copies bytes both ways between a connection's pipes and an upstream socket. Each direction runs until its source
/// ends and then half-closes its destination, so a peer that shuts down its sending side still gets its answer; an
/// error in either direction ends both.
/// </summary>
public static class Splice
{
    /// <summary>Returns the bytes copied each way once both directions have finished.</summary>
    public static async Task<(long Received, long Sent)> RunAsync(IDuplexPipe client, Socket upstream)
    {
        using var failed = new CancellationTokenSource();
        var toUpstream = ToUpstreamAsync(client.Input, upstream, failed);
        var toClient = ToClientAsync(upstream, client.Output, failed);
        var results = await Task.WhenAll(toUpstream, toClient);
        return (results[0], results[1]);
    }

    /// <summary>The same over a stream (a mesh TLS connection): a finished direction ends with TLS close_notify.</summary>
    public static async Task<(long Received, long Sent)> RunAsync(IDuplexPipe client, System.Net.Security.SslStream upstream)
    {
        using var failed = new CancellationTokenSource();
        var toUpstream = ToStreamAsync(client.Input, upstream, failed);
        var toClient = FromStreamAsync(upstream, client.Output, failed);
        var results = await Task.WhenAll(toUpstream, toClient);
        return (results[0], results[1]);
    }

    private static async Task<long> ToStreamAsync(PipeReader reader, System.Net.Security.SslStream upstream, CancellationTokenSource failed)
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

            await upstream.ShutdownAsync();
            await reader.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            await reader.CompleteAsync(e);
            await failed.CancelAsync();
        }

        return total;
    }

    private static async Task<long> FromStreamAsync(Stream upstream, PipeWriter writer, CancellationTokenSource failed)
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
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            await writer.CompleteAsync(e);
            await failed.CancelAsync();
        }

        return total;
    }

    private static async Task<long> ToUpstreamAsync(PipeReader reader, Socket upstream, CancellationTokenSource failed)
    {
        long total = 0;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(failed.Token);
                foreach (var segment in result.Buffer)
                {
                    total += await upstream.SendAsync(segment, SocketFlags.None, failed.Token);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            upstream.Shutdown(SocketShutdown.Send);
            await reader.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            await reader.CompleteAsync(e);
            await failed.CancelAsync();
        }

        return total;
    }

    private static async Task<long> ToClientAsync(Socket upstream, PipeWriter writer, CancellationTokenSource failed)
    {
        long total = 0;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(16 * 1024);
                var read = await upstream.ReceiveAsync(memory, SocketFlags.None, failed.Token);
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
