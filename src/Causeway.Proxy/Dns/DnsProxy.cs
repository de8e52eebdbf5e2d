using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Dns;

/// <summary>
/// The sidecar's DNS proxy (Istio's on 15053, which the pod's capture rules send port 53 to): answers the mesh's
/// service names with their virtual addresses from the current configuration, says NXDOMAIN for other names of the
/// cluster domain, and forwards everything else to the configured upstream resolver, or says NXDOMAIN without one.
/// UDP and TCP (RFC 7766 length-prefixed) both.
/// </summary>
public sealed class DnsProxy(ProxyOptions options, ProxyConfigHolder config, ProxyMetrics metrics, ILogger<DnsProxy> logger) : IAsyncDisposable
{
    public const string Listener = "dns";

    /// <summary>How long answers may be cached: Istio's DNS proxy uses 30 s.</summary>
    public const uint AnswerTtlSeconds = 30;

    private const int MaxUdpMessage = 512;
    private const int MaxTcpConnections = 128;

    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _tcpSlots = new(MaxTcpConnections);
    private Socket? _udp;
    private Socket? _tcp;
    private Task _loops = Task.CompletedTask;

    public IPEndPoint? UdpEndPoint => _udp?.LocalEndPoint as IPEndPoint;

    public void Start()
    {
        var endpoint = new IPEndPoint(options.DnsAddress, options.DnsPort);
        for (var attempt = 1; ; attempt++)
        {
            _udp = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            _udp.Bind(endpoint);
            _tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                _tcp.Bind(new IPEndPoint(options.DnsAddress, ((IPEndPoint)_udp.LocalEndPoint!).Port));
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && options.DnsPort == 0 && attempt < 10)
            {
                // The port the system chose for UDP may be taken for TCP (by any outgoing connection): choose again.
                _udp.Dispose();
                _tcp.Dispose();
            }
        }

        _tcp.Listen(64);
        _loops = Task.WhenAll(Task.Run(UdpLoopAsync), Task.Run(TcpLoopAsync));
    }

    /// <summary>
    /// Answers one query into <paramref name="reply"/>; returns the reply's length, 0 to drop the message, or -1
    /// when the query must go to the upstream resolver.
    /// </summary>
    public int Answer(ReadOnlySpan<byte> query, Span<byte> reply)
    {
        Span<char> name = stackalloc char[DnsQuery.MaxNameLength];
        var rcode = DnsQuery.TryRead(query, name, out var q);
        if (rcode < 0)
        {
            metrics.Connection(Listener, "dropped");
            return 0;
        }

        if (rcode > 0)
        {
            metrics.Connection(Listener, rcode == 1 ? "formerr" : "notimp");
            return DnsQuery.WriteReply(query, q, rcode, default, 0, reply);
        }

        var address = q.Class == 1 ? (config.Current?.Names ?? MeshNameTable.Empty).Find(q.Name, options.Namespace) : null;
        if (address is not null)
        {
            metrics.Connection(Listener, "answered");
            Span<byte> bytes = stackalloc byte[4];
            address.TryWriteBytes(bytes, out _);
            var isA = q.Type is DnsQuery.TypeA or DnsQuery.TypeAny;
            return DnsQuery.WriteReply(query, q, 0, isA ? bytes : default, AnswerTtlSeconds, reply);
        }

        if (options.DnsUpstream is not null && !MeshNameTable.IsClusterDomain(q.Name))
        {
            return -1;
        }

        metrics.Connection(Listener, "nxdomain");
        return DnsQuery.WriteReply(query, q, 3, default, 0, reply);
    }

    private async Task UdpLoopAsync()
    {
        var buffer = new byte[MaxUdpMessage * 8];
        var reply = new byte[MaxUdpMessage];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _udp!.ReceiveFromAsync(buffer, SocketFlags.None, any, _stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            var length = Answer(buffer.AsSpan(0, received.ReceivedBytes), reply);
            if (length > 0)
            {
                await SendAsync(reply.AsMemory(0, length), received.RemoteEndPoint);
            }
            else if (length < 0)
            {
                var query = buffer.AsMemory(0, received.ReceivedBytes).ToArray();
                var client = received.RemoteEndPoint;
                _ = Task.Run(async () =>
                {
                    if (await ForwardAsync(query) is { } answer)
                    {
                        await SendAsync(answer, client);
                    }
                });
            }
        }
    }

    private async Task SendAsync(ReadOnlyMemory<byte> reply, EndPoint client)
    {
        try
        {
            await _udp!.SendToAsync(reply, SocketFlags.None, client, _stopping.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task TcpLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _tcp!.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            if (!_tcpSlots.Wait(0))
            {
                metrics.Connection(Listener, "tcp_refused_limit");
                client.Dispose();
                continue;
            }

            _ = Task.Run(async () =>
            {
                try
                {
                    await ServeTcpAsync(client);
                }
                finally
                {
                    client.Dispose();
                    _tcpSlots.Release();
                }
            });
        }
    }

    /// <summary>Length-prefixed queries on one connection until the client closes or stays idle for 10 s.</summary>
    private async Task ServeTcpAsync(Socket client)
    {
        var prefix = new byte[2];
        var reply = new byte[2 + MaxUdpMessage];
        var buffer = ArrayPool<byte>.Shared.Rent(ushort.MaxValue);
        await using var stream = new NetworkStream(client, ownsSocket: false);
        try
        {
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                idle.CancelAfter(TimeSpan.FromSeconds(10));
                if (await stream.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, idle.Token) < prefix.Length)
                {
                    return;
                }

                var length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
                if (await stream.ReadAtLeastAsync(buffer.AsMemory(0, length), length, throwOnEndOfStream: false, idle.Token) < length)
                {
                    return;
                }

                var written = Answer(buffer.AsSpan(0, length), reply.AsSpan(2));
                ReadOnlyMemory<byte> answer;
                if (written < 0)
                {
                    var forwarded = await ForwardAsync(buffer.AsMemory(0, length).ToArray());
                    if (forwarded is null)
                    {
                        return;
                    }

                    var framed = new byte[2 + forwarded.Length];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)forwarded.Length);
                    forwarded.CopyTo(framed, 2);
                    answer = framed;
                }
                else if (written == 0)
                {
                    return;
                }
                else
                {
                    BinaryPrimitives.WriteUInt16BigEndian(reply, (ushort)written);
                    answer = reply.AsMemory(0, 2 + written);
                }

                await stream.WriteAsync(answer, idle.Token);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Asks the upstream resolver over UDP; null (the client retries) when it does not answer in time.</summary>
    private async Task<byte[]?> ForwardAsync(byte[] query)
    {
        using var socket = new Socket(options.DnsUpstream!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(options.DnsUpstreamTimeout);
        try
        {
            await socket.ConnectAsync(options.DnsUpstream, timeout.Token);
            await socket.SendAsync(query, SocketFlags.None, timeout.Token);
            var answer = new byte[4096];
            var n = await socket.ReceiveAsync(answer, SocketFlags.None, timeout.Token);
            metrics.Connection(Listener, "forwarded");
            return answer[..n];
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            metrics.Connection(Listener, "upstream_failed");
            logger.LogWarning("DNS upstream {Upstream} failed: {Error}", options.DnsUpstream, e.Message);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _udp?.Dispose();
        _tcp?.Dispose();
        await _loops;
        _stopping.Dispose();
        _tcpSlots.Dispose();
    }
}
