using Causeway.Api.V1;
using Causeway.Core.Client;
using Grpc.Core;

namespace Causeway.Testing;

/// <summary>A discovery client as a proxy runs it: it sends its node, ACKs every response, and lets a test wait for a configuration.</summary>
public sealed class DiscoveryStream : IAsyncDisposable
{
    private readonly ControlPlaneConnection _connection;
    private readonly AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> _call;
    private readonly List<DiscoveryResponse> _received = [];
    private readonly List<DiscoveryResponse> _incremental = [];
    private readonly List<(int Bytes, int Compressed, ConfigCompression Compression)> _wire = [];
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly Task _reader;
    private readonly Func<DiscoveryResponse, string?> _verdict;

    private DiscoveryStream(ControlPlaneConnection connection, AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> call, Func<DiscoveryResponse, string?> verdict)
    {
        _connection = connection;
        _call = call;
        _verdict = verdict;
        _reader = Task.Run(ReadAsync);
    }

    /// <summary>Every response received so far, oldest first.</summary>
    public IReadOnlyList<DiscoveryResponse> Received
    {
        get
        {
            lock (_received)
            {
                return _received.ToList();
            }
        }
    }

    /// <summary>Each response's size as it was sent, and the size of its compressed part (0 when it had none), oldest first.</summary>
    public IReadOnlyList<(int Bytes, int Compressed, ConfigCompression Compression)> Wire
    {
        get
        {
            lock (_received)
            {
                return _wire.ToList();
            }
        }
    }

    /// <summary>The incremental responses received so far, as they were sent, oldest first.</summary>
    public IReadOnlyList<DiscoveryResponse> Incremental
    {
        get
        {
            lock (_received)
            {
                return _incremental.ToList();
            }
        }
    }

    /// <summary>Opens the stream; <paramref name="verdict"/> returns an error to NACK a response with, or null to ACK it.</summary>
    public static async Task<DiscoveryStream> OpenAsync(Uri address, string rootPem, string token, ProxyNode node, Func<DiscoveryResponse, string?>? verdict = null)
    {
        var connection = ControlPlaneConnection.Create(address, rootPem, token);
        var call = connection.Discovery.StreamConfig();
        await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = node });
        return new DiscoveryStream(connection, call, verdict ?? (_ => null));
    }

    /// <summary>Waits for a configuration satisfying <paramref name="condition"/>; fails with the last one seen.</summary>
    public async Task<DiscoveryResponse> WaitForAsync(Func<ProxyConfig, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var received = Received;
            var last = received.Count > 0 ? received[^1] : null;
            if (last is not null && condition(last.Config))
            {
                return last;
            }

            if (_reader.IsFaulted)
            {
                throw new InvalidOperationException($"the discovery stream failed while waiting for {what}", _reader.Exception);
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"no configuration with {what} within {timeout}; last: {last?.Config}");
            }

            await _arrived.WaitAsync(remaining < TimeSpan.FromMilliseconds(200) ? remaining : TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Waits for the stream to end with an error status (e.g. a refused identity).</summary>
    public async Task<RpcException> WaitForErrorAsync(TimeSpan timeout)
    {
        var finished = await Task.WhenAny(_reader, Task.Delay(timeout));
        if (finished != _reader)
        {
            throw new TimeoutException("the stream stayed open");
        }

        return _reader.Exception?.InnerException as RpcException ?? throw new InvalidOperationException("the stream ended without an error");
    }

    public async ValueTask DisposeAsync()
    {
        _call.Dispose();
        try
        {
            await _reader;
        }
        catch (Exception)
        {
        }

        _connection.Dispose();
        _arrived.Dispose();
    }

    private async Task ReadAsync()
    {
        var updates = new DiscoveryUpdates();
        await foreach (var response in _call.ResponseStream.ReadAllAsync())
        {
            // Tests see every response as the complete configuration it stands for; an incremental one is kept as sent in Incremental.
            string? error;
            lock (_received)
            {
                _wire.Add((response.CalculateSize(), response.Config?.Compressed.Length ?? 0, response.Config?.Compression ?? ConfigCompression.Gzip));
                if (response.BaseVersion.Length > 0)
                {
                    _incremental.Add(response.Clone());
                }
            }

            try
            {
                response.Config = updates.Resolve(response);
                error = _verdict(response);
                if (error is null)
                {
                    updates.Accepted(response.VersionInfo, response.Config);
                }
            }
            catch (InvalidDataException e)
            {
                error = e.Message;
            }

            lock (_received)
            {
                _received.Add(response);
            }

            await _call.RequestStream.WriteAsync(new DiscoveryRequest { VersionInfo = response.VersionInfo, ResponseNonce = response.Nonce, ErrorDetail = error ?? "" });
            _arrived.Release();
        }
    }
}
