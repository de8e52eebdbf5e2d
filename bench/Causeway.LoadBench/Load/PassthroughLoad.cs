using System.Net;
using System.Net.Sockets;

namespace Causeway.LoadBench.Load;

/// <summary>
/// B6's load on an SNI passthrough proxy (an east-west gateway): every connection opens with the same real ClientHello
/// (a mesh SNI and the mesh ALPN, as a remote sidecar sends) and a mode byte for <see cref="Peers.PassthroughBackend"/>.
/// Streams: a fixed number of connections each reading what the backend streams (bytes/s). Connections: a fixed number
/// of loops each opening a connection, reading the backend's one byte and its close, then opening the next
/// (connections/s).
/// </summary>
public sealed class PassthroughLoad(IPEndPoint entry, byte[] clientHello)
{
    /// <summary>The mode byte asking the backend to stream.</summary>
    public const byte Stream = (byte)'S';

    /// <summary>The mode byte asking the backend for one byte and its close.</summary>
    public const byte Once = (byte)'C';

    private readonly byte[] _streamOpening = [.. clientHello, Stream];
    private readonly byte[] _onceOpening = [.. clientHello, Once];

    /// <summary>Opens <paramref name="connections"/> streams; they read until the returned run is disposed.</summary>
    public async Task<StreamingRun> StartStreamsAsync(int connections)
    {
        var run = new StreamingRun();
        for (var i = 0; i < connections; i++)
        {
            var socket = await ConnectAsync(_streamOpening);
            run.Add(socket);
        }

        return run;
    }

    /// <summary>Opens, reads the answer and closes, over and over on <paramref name="concurrency"/> loops, for <paramref name="duration"/> (each loop at least once).</summary>
    public Task<(long Completed, long Errors)> ConnectionsAsync(int concurrency, TimeSpan duration) =>
        ConnectionLoops.RunAsync(concurrency, duration, 16, OnceAsync, e => e is SocketException or OperationCanceledException, _ => { });

    /// <summary>True when the backend's one byte and then its close came through.</summary>
    private async Task<bool> OnceAsync(byte[] answer)
    {
        using var socket = await ConnectAsync(_onceOpening);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var total = 0;
        int read;
        while ((read = await socket.ReceiveAsync(answer, SocketFlags.None, timeout.Token)) > 0)
        {
            total += read;
        }

        return total == 1;
    }

    private async Task<Socket> ConnectAsync(byte[] opening)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.ConnectAsync(entry, timeout.Token);
            await socket.SendAsync(opening, SocketFlags.None, timeout.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Streams being read; <see cref="Bytes"/> counts what all of them received so far.</summary>
    public sealed class StreamingRun : IAsyncDisposable
    {
        private readonly List<Socket> _sockets = [];
        private readonly List<Task> _readers = [];
        private readonly CancellationTokenSource _stop = new();
        private long _bytes;
        private long _failures;

        public long Bytes => Interlocked.Read(ref _bytes);

        /// <summary>Streams that ended before the run did (the proxy or backend closed them).</summary>
        public long Failures => Interlocked.Read(ref _failures);

        public void Add(Socket socket)
        {
            _sockets.Add(socket);
            _readers.Add(Task.Run(() => ReadAsync(socket)));
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }

            await Task.WhenAll(_readers);
            _stop.Dispose();
        }

        private async Task ReadAsync(Socket socket)
        {
            var buffer = new byte[256 * 1024];
            try
            {
                while (true)
                {
                    var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        Interlocked.Increment(ref _failures);
                        return;
                    }

                    Interlocked.Add(ref _bytes, read);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                if (!_stop.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _failures);
                }
            }
        }
    }
}
