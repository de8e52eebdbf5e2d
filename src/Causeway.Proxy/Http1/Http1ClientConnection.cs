using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Naming;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Http;
using Causeway.Proxy.Http2;
using Causeway.Proxy.Inbound;
using Causeway.Proxy.LoadBalancing;
using Causeway.Proxy.Outbound;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Http1;

/// <summary>
/// One client connection on the direct HTTP/1.1 path: reads each request head, forwards the request, relays the
/// response, and repeats while the connection is kept alive. Requests are taken one at a time, in order, so a
/// pipelined client is answered in order.
/// </summary>
/// <remarks>
/// Its async methods are not inlined into one another: an inlined call puts the callee's state machine on the caller's
/// stack, one per call site, and an async method's frame is zeroed at each resumption (OutboundAsync's was 1,992 bytes).
/// </remarks>
public sealed class Http1ClientConnection : IDisposable
{
    private readonly Http1Forwarder _shared;
    private readonly ConnectionContext _connection;
    private readonly bool _inbound;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly CancellationTokenRegistration _closeRequested;
    private byte[] _scratch = ArrayPool<byte>.Shared.Rent(4096);
    private volatile bool _closing;
    private volatile bool _idle;
    private volatile UpstreamConnection? _upstream;
    private volatile UpgradedRequestStream? _upgraded;
    private volatile bool _dropBody;
    private int _timedOut;

    // The last Host resolved on this connection: keep-alive clients repeat it.
    private AuthorityRoute _lastHost;

    // Inbound: the configuration the application port below was found in.
    private ProxySnapshot? _lastSnapshot;
    private UpstreamConnectionPool? _lastPool;
    private string? _lastPoolAddress;
    private int _lastPoolPort;
    private string? _lastPoolSni;
    private Http2UpstreamPool? _lastHttp2Pool;
    private string? _lastHttp2Address;
    private int _lastHttp2Port;

    // Inbound: what the mTLS handshake established, once per connection.
    private readonly MeshSni? _sni;
    private readonly SpiffeId? _peer;
    private readonly string _peerName = "";
    private readonly byte[] _forwardedClientCert = [];
    private uint _appPort;

    public Http1ClientConnection(Http1Forwarder shared, ConnectionContext connection, bool inbound)
    {
        _shared = shared;
        _connection = connection;
        _inbound = inbound;
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        ExtendDeadline(shared.Limits.KeepAliveTimeout);
        if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
        {
            // Kestrel asks connections to close when the proxy drains: an idle one closes now, a busy one after its response.
            _closeRequested = lifetime.ConnectionClosedRequested.Register(static s => ((Http1ClientConnection)s!).CloseRequested(), this);
        }

        if (inbound)
        {
            var items = connection.Features.Get<IConnectionItemsFeature>();
            _sni = InboundConnection.Sni(items);
            _peer = InboundConnection.Peer(items);
            _peerName = _peer?.ToString() ?? "";
            _forwardedClientCert = Encoding.ASCII.GetBytes($"x-forwarded-client-cert: By={shared.Options.Identity};URI={_peer}\r\n");
        }
    }

    /// <summary>When the heartbeat ends this connection (<see cref="Environment.TickCount64"/>).</summary>
    public long Deadline { get; private set; }

    private enum Outcome
    {
        KeepAlive,
        Close,
        HandOver,
    }

    /// <summary>Serves requests until the connection ends; true when Kestrel should take the rest of it.</summary>
    public async Task<bool> RunAsync()
    {
        var headStarted = false;
        while (true)
        {
            _idle = !headStarted;
            // A drain notice between requests cancels the read (here when it came while the connection was busy): an empty
            // cancelled read closes the connection, and a request already in is served first, its response with
            // Connection: close.
            if (_closing && _idle)
            {
                _input.CancelPendingRead();
            }

            var result = await _input.ReadAsync();
            _idle = false;
            var buffer = result.Buffer;
            if (buffer.IsEmpty && (result.IsCompleted || result.IsCanceled))
            {
                _input.AdvanceTo(buffer.Start);
                return !result.IsCompleted && await SayIdleCloseAsync();
            }

            var head = Contiguous(buffer);
            var status = RequestHeadParser.TryParse(head.Span, _shared.Limits, out var request);
            if (status == HeadStatus.Incomplete)
            {
                if (result.IsCompleted)
                {
                    return false;
                }

                if (!headStarted)
                {
                    headStarted = true;
                    ExtendDeadline(_shared.Limits.RequestHeadersTimeout);
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            headStarted = false;
            if (status == HeadStatus.NotHandled)
            {
                _input.AdvanceTo(buffer.Start, buffer.Start);
                return true;
            }

            ExtendDeadline(_shared.Limits.ActivityTimeout);
            var outcome = _inbound ? await InboundAsync(buffer, head, request) : await OutboundAsync(buffer, head, request);
            if (outcome == Outcome.HandOver)
            {
                _input.AdvanceTo(buffer.Start, buffer.Start);
                return true;
            }

            if (outcome == Outcome.Close)
            {
                return false;
            }

            ExtendDeadline(_shared.Limits.KeepAliveTimeout);
        }
    }

    /// <summary>Gives the connection <paramref name="limit"/> from now before the heartbeat ends it.</summary>
    private void ExtendDeadline(TimeSpan limit) => Deadline = Environment.TickCount64 + limit.Ticks / TimeSpan.TicksPerMillisecond;

    /// <summary>Something of the response came: the connection gets the activity timeout from now.</summary>
    internal void Progressed() => ExtendDeadline(_shared.Limits.ActivityTimeout);

    /// <summary>Called by the heartbeat past <see cref="Deadline"/>: ends the client connection and any upstream one in use.</summary>
    public void TimedOut()
    {
        if (Interlocked.Exchange(ref _timedOut, 1) != 0)
        {
            return;
        }

        _shared.Metrics.Connection(_inbound ? InboundConnection.Listener : KestrelConnectionEnds.OutboundListener, "http1_timeout");
        _connection.Abort(new ConnectionAbortedException("no progress within the HTTP/1.1 timeouts"));
        _upstream?.Dispose();
        _upgraded?.Cancel("no progress within the HTTP/1.1 timeouts");
    }

    /// <summary>
    /// Closes an idle connection the proxy no longer serves (it drains). A mesh client's next request may already be on
    /// its way: it is told with <see cref="IdleCloseNotice"/>, and what it sends is read and dropped until it closes or
    /// <see cref="Http1Limits.IdleCloseLinger"/> passes, so that it reads the notice rather than a reset and sends the
    /// request elsewhere. Always false: nothing is handed to Kestrel.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task<bool> SayIdleCloseAsync()
    {
        if (!_inbound || _peer is null)
        {
            // Applications' clients (curl, SocketsHttpHandler) send a request again when a reused connection closes unanswered.
            return false;
        }

        _output.Write(IdleCloseNotice.Bytes);
        if ((await _output.FlushAsync()).IsCompleted)
        {
            return false;
        }

        ExtendDeadline(_shared.Limits.IdleCloseLinger + TimeSpan.FromSeconds(1));
        using var linger = new CancellationTokenSource(_shared.Limits.IdleCloseLinger);
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(linger.Token);
                _input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return false;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void CloseRequested()
    {
        _closing = true;
        if (_idle)
        {
            _input.CancelPendingRead();
        }
    }

    /// <summary>The head's bytes in one piece: the first segment when it holds them, else a copy of at most the head limit.</summary>
    private ReadOnlyMemory<byte> Contiguous(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            return buffer.First;
        }

        var length = (int)Math.Min(buffer.Length, _shared.Limits.MaxRequestHeadBytes + 4);
        var copy = new byte[length];
        buffer.Slice(0, length).CopyTo(copy);
        return copy;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<Outcome> OutboundAsync(ReadOnlySequence<byte> buffer, ReadOnlyMemory<byte> head, RequestHead request)
    {
        var snapshot = _shared.Config.Current;
        if (snapshot is null)
        {
            return await ReplyAsync(buffer, request, 503, "Service Unavailable", "causeway: no configuration from the control plane yet\n");
        }

        var route = _lastHost.Resolve(snapshot, head.Span[request.Host], _shared.Options.Namespace) ?? TransparentOutbound.RouteOf(_connection.Features.Get<IConnectionItemsFeature>());
        if (route is null)
        {
            return await ReplyAsync(buffer, request, 404, "Not Found", NotAMeshService(head.Span[request.Host]));
        }

        var upgraded = route.MeshHopIsHttp2(requestIsHttp2: false);
        if (upgraded && _shared.Http2Pools is null)
        {
            return Outcome.HandOver;
        }

        var started = Stopwatch.GetTimestamp();
        UpstreamEndpoint? previous = null;
        for (var attempt = 0; ; attempt++)
        {
            var endpoint = route.Picker.Pick(previous);
            if (endpoint is null)
            {
                var reply = await ReplyAsync(buffer, request, 503, "Service Unavailable", "no healthy upstream\n");
                RecordOutbound(route, null, 503, started);
                return reply;
            }

            endpoint.RequestStarted();
            try
            {
                var (address, port, sni) = endpoint.Plaintext ? (endpoint.Address, (int)endpoint.Port, "") :
                    (endpoint.Address, endpoint.ViaGateway ? (int)endpoint.Port : _shared.Options.InboundPort, route.MeshSni);
                // An endpoint outside the mesh takes HTTP/1.1 whatever the route says (no sidecar translates for it), as on the forwarder path.
                var exchange = upgraded && !endpoint.Plaintext ? await UpgradedExchangeAsync(buffer, head, request, address, port, sni, _shared.Options.MaxRetries - attempt) :
                    await ExchangeAsync(buffer, head, request, address, port, sni, []);
                if (exchange.Status == 0 && (exchange.Unreached || exchange.Refused))
                {
                    LogUnreached(route, endpoint, attempt, exchange.Error);
                    if (exchange.Unreached)
                    {
                        ConnectFailures.Record(endpoint, _shared.Options);
                    }

                    if (attempt < _shared.Options.MaxRetries)
                    {
                        previous = endpoint;
                        continue;
                    }

                    var reply = await ReplyAsync(buffer, request, 502, "Bad Gateway", UpstreamFailure.Body(exchange.Error));
                    RecordOutbound(route, endpoint, 502, started);
                    return reply;
                }

                if (exchange.Status == 0)
                {
                    LogFailed(route, endpoint, exchange.Error);
                    var reply = exchange.ResponseStarted ? Outcome.Close : await ReplyAsync(buffer, request, 502, "Bad Gateway", UpstreamFailure.Body(exchange.Error), consumed: exchange.Consumed);
                    RecordOutbound(route, endpoint, 502, started);
                    return reply;
                }

                endpoint.Succeeded();
                RecordOutbound(route, endpoint, exchange.Status, started);
                return exchange.Outcome;
            }
            finally
            {
                endpoint.RequestEnded();
            }
        }
    }

    // What only failures need is kept out of line, so that it does not grow the frame of the async method around it (its
    // locals are zeroed at each of the method's resumptions).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string NotAMeshService(ReadOnlySpan<byte> host) => $"causeway: '{Encoding.ASCII.GetString(host)}' is not a mesh service this sidecar knows\n";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LogUnreached(ServiceRoute route, UpstreamEndpoint endpoint, int attempt, string error) =>
        _shared.Logger.LogWarning("A request for {Service} to {Endpoint} (attempt {Attempt}) failed: {Reason}", route.Hostname, endpoint, attempt + 1, error);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LogFailed(ServiceRoute route, UpstreamEndpoint endpoint, string error) =>
        _shared.Logger.LogWarning("A request for {Service} to {Endpoint} failed: {Reason}", route.Hostname, endpoint, error);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<Outcome> InboundAsync(ReadOnlySequence<byte> buffer, ReadOnlyMemory<byte> head, RequestHead request)
    {
        var started = Stopwatch.GetTimestamp();
        var snapshot = _shared.Config.Current;
        if (snapshot is null || _sni is not { } sni)
        {
            return await ReplyAsync(buffer, request, 503, "Service Unavailable", "");
        }

        if (snapshot != _lastSnapshot)
        {
            if (snapshot.Find(sni.Host, (uint)sni.Port)?.IsHttp2 == true)
            {
                return Outcome.HandOver;
            }

            _appPort = _shared.InboundConnection.TargetPort(snapshot, sni);
            _lastSnapshot = snapshot;
        }

        var policies = snapshot.Config.AuthorizationPolicies;
        if (policies.Count > 0)
        {
            var method = Encoding.ASCII.GetString(head.Span[request.Method]);
            var path = Encoding.ASCII.GetString(head.Span[request.Path]);
            if (AuthorizationEvaluator.Check(policies, _peer, _appPort, method, path) is not null)
            {
                var denied = await ReplyAsync(buffer, request, 403, "Forbidden", "RBAC: access denied");
                RecordInbound(sni.Host, 403, started);
                return denied;
            }
        }

        var exchange = await ExchangeAsync(buffer, head, request, _shared.AppAddress, (int)_appPort, "", _forwardedClientCert);
        if (exchange.Status == 0)
        {
            var reply = exchange.ResponseStarted ? Outcome.Close : await ReplyAsync(buffer, request, 502, "Bad Gateway", UpstreamFailure.Body(exchange.Error), consumed: exchange.Consumed);
            RecordInbound(sni.Host, 502, started);
            return reply;
        }

        RecordInbound(sni.Host, exchange.Status, started);
        return exchange.Outcome;
    }

    /// <summary>
    /// The upstream's pool, from the connection's last answer while the upstream is the same: keep-alive clients repeat
    /// it, and the endpoint's address and the route's SNI are the same string objects until the configuration changes.
    /// </summary>
    private UpstreamConnectionPool PoolFor(string address, int port, string sni)
    {
        if (_lastPool is { Dropped: false } pool && ReferenceEquals(address, _lastPoolAddress) && port == _lastPoolPort && ReferenceEquals(sni, _lastPoolSni))
        {
            return pool;
        }

        _lastPool = _shared.Pools.For(address, port, sni);
        (_lastPoolAddress, _lastPoolPort, _lastPoolSni) = (address, port, sni);
        return _lastPool;
    }

    /// <summary>How one try went: the response status (0 when there was none to pass on) and what the connection does next.</summary>
    private readonly record struct Exchange(int Status, Outcome Outcome, bool Unreached = false, bool ResponseStarted = false, bool Consumed = false, string Error = "", bool Refused = false);

    /// <summary>
    /// Sends the request on an HTTP/2 stream to one mesh endpoint (<see cref="UpgradedRequestStream"/>, whose upstream
    /// connection's read loop writes the response to this client). A request buffered whole stays unconsumed until the
    /// stream ends, so that it can go again when no connection could be made or the stream was refused unprocessed; a
    /// larger body is read on once the stream is open, and the stream itself sends it again when refused, up to
    /// <paramref name="retries"/> times, as far as its copy of the body reaches.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<Exchange> UpgradedExchangeAsync(ReadOnlySequence<byte> buffer, ReadOnlyMemory<byte> head, RequestHead request, string address, int port, string sni, int retries)
    {
        var whole = request.Length + request.ContentLength <= buffer.Length;
        var pool = Http2PoolFor(address, port, sni);
        var closeClient = request.Close || _closing;
        var stream = new UpgradedRequestStream(this, _output, pool, head.Span, request, whole ? buffer.Slice(request.Length, request.ContentLength) : default, closeClient, retries);
        _upgraded = stream;
        Task? body = null;
        var consumed = false;
        try
        {
            stream.Start();
            if (!whole)
            {
                await stream.WaitForRoomAsync();
                if (stream.Unreached)
                {
                    return new Exchange(0, Outcome.Close, Unreached: true, Error: stream.Error);
                }

                consumed = true;
                _input.AdvanceTo(buffer.GetPosition(request.Length));
                body = CopyRequestBodyAsync(stream, request.ContentLength);
            }

            await stream.Completion;
        }
        finally
        {
            _upgraded = null;
        }

        // A request the upstream never answered is left to the caller, which sends it again or answers it itself.
        if (whole && (stream.Completed || stream.ResponseStarted))
        {
            consumed = true;
            _input.AdvanceTo(buffer.GetPosition(request.Length + request.ContentLength));
        }

        var bodyCut = body is not null && (!body.IsCompleted || _dropBody);
        if (body is not null)
        {
            await DrainBodyAsync(body);
        }

        if (stream.Completed)
        {
            return new Exchange(stream.Status, closeClient || bodyCut ? Outcome.Close : Outcome.KeepAlive);
        }

        if (stream.ResponseStarted)
        {
            _connection.Abort(new ConnectionAbortedException("the upstream broke off its response"));
            return new Exchange(0, Outcome.Close, ResponseStarted: true, Error: stream.Error);
        }

        return new Exchange(0, Outcome.Close, Unreached: stream.Unreached, Consumed: consumed, Error: stream.Error, Refused: stream.Refused);
    }

    /// <summary>The HTTP/2 pool of a mesh upstream, from the connection's last answer while the upstream is the same (see <see cref="PoolFor"/>).</summary>
    private Http2UpstreamPool Http2PoolFor(string address, int port, string sni)
    {
        if (_lastHttp2Pool is { Dropped: false } pool && ReferenceEquals(address, _lastHttp2Address) && port == _lastHttp2Port && ReferenceEquals(sni, pool.Sni))
        {
            return pool;
        }

        _lastHttp2Pool = _shared.Http2Pools!.For(address, port, sni);
        (_lastHttp2Address, _lastHttp2Port) = (address, port);
        return _lastHttp2Pool;
    }

    /// <summary>Copies a body not buffered whole onto the upgraded stream as it arrives, as far as the stream has room; the rest is dropped once the stream takes no more.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task CopyRequestBodyAsync(UpgradedRequestStream stream, long remaining)
    {
        while (remaining > 0)
        {
            var result = await _input.ReadAsync();
            var take = Math.Min(remaining, result.Buffer.Length);
            remaining -= take;
            if (!_dropBody && !stream.SendBody(result.Buffer.Slice(0, take), endStream: remaining == 0))
            {
                _dropBody = true;
            }

            _input.AdvanceTo(result.Buffer.GetPosition(take));
            ExtendDeadline(_shared.Limits.ActivityTimeout);
            if (remaining > 0 && result.IsCompleted)
            {
                stream.Cancel("the client closed the connection within the request body");
                throw new ConnectionAbortedException("the client closed the connection within the request body");
            }

            if (!_dropBody)
            {
                await stream.WaitForRoomAsync();
            }
        }
    }

    /// <summary>
    /// Sends the request to one upstream and relays its response. A request whose head and body are all buffered is
    /// kept unconsumed until the response begins, so that it can be sent again on a new connection when a pooled one
    /// refuses it, or on another endpoint when no connection could be made at all.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<Exchange> ExchangeAsync(ReadOnlySequence<byte> buffer, ReadOnlyMemory<byte> head, RequestHead request, string address, int port, string sni, byte[] extra)
    {
        // The head's bytes are the client's buffer, released once consumed: what is needed of them later is read now.
        var headRequest = request.IsHeadMethod(head.Span);
        var whole = request.Length + request.ContentLength <= buffer.Length && request.ContentLength <= UpstreamConnection.BufferBytes;
        var pool = PoolFor(address, port, sni);
        var consumed = false;
        var responding = false;
        for (var fresh = false; ; fresh = true)
        {
            var upstream = fresh ? null : pool.TryTake();
            if (upstream is null)
            {
                try
                {
                    upstream = await _shared.ConnectAsync(address, port, sni, pool);
                }
                catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or InvalidOperationException)
                {
                    return new Exchange(0, Outcome.Close, Unreached: true, Error: e.GetBaseException().Message);
                }
            }

            _upstream = upstream;
            _dropBody = false;
            Task? body = null;
            try
            {
                var written = WriteRequest(buffer, head.Span, request, extra, whole);
                try
                {
                    await upstream.Stream.WriteAsync(_scratch.AsMemory(0, written));
                }
                catch (Exception e) when (e is IOException or SocketException && upstream.Reused && !fresh)
                {
                    // A pooled connection the application closed after the pool's check: the request never got through.
                    continue;
                }

                if (!whole)
                {
                    consumed = true;
                    _input.AdvanceTo(buffer.GetPosition(request.Length));
                    body = CopyRequestBodyAsync(upstream.Stream, request.ContentLength);
                }

                // From here on the application may have the request: it is never sent again (it may not be idempotent in effect).
                if (body is null && upstream.Start == upstream.End)
                {
                    // The response's first read is awaited here rather than in ReadResponseHeadAsync, which then finds the head
                    // there (it nearly always comes whole) and returns without waiting: one async level less per response.
                    // What the read found (the end of stream included) is that method's to judge.
                    upstream.End += await upstream.ReceiveAsync(upstream.Room(_shared.Limits.MaxResponseHeadBytes));
                }

                var (response, error) = body is null ? await ReadResponseHeadAsync(upstream, headRequest) : await ReadEarlyResponseHeadAsync(upstream, headRequest, body);
                if (response is not { } final)
                {
                    return new Exchange(0, Outcome.Close, Consumed: consumed, Error: error);
                }

                if (!fresh && body is null && IdleCloseNotice.Is(final.Status, final.KeepAlive, final.ContentLength))
                {
                    // The upstream closed the connection as the request crossed it (a draining sidecar says so): it was not
                    // taken, and goes once more on a new connection, which a drained endpoint refuses so another is picked.
                    continue;
                }

                if (!consumed)
                {
                    consumed = true;
                    _input.AdvanceTo(buffer.GetPosition(request.Length + request.ContentLength));
                }

                responding = true;
                // An answer that came before the whole body went up ends the connection once relayed (the body is drained
                // first). Decided here once: a body still going now is cut, and one already done cannot be cut later.
                var bodyCut = body is not null && (!body.IsCompleted || _dropBody);
                var (exchange, reusable) = await RelayResponseAsync(upstream, final, request.Close || bodyCut, headRequest);
                if (reusable && !bodyCut)
                {
                    pool.Return(upstream);
                    upstream = null;
                }

                return bodyCut ? exchange with { Outcome = Outcome.Close } : exchange;
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                if (responding)
                {
                    _connection.Abort(new ConnectionAbortedException("the upstream broke off its response"));
                    return new Exchange(0, Outcome.Close, ResponseStarted: true, Error: e.GetBaseException().Message);
                }

                return new Exchange(0, Outcome.Close, Consumed: consumed, Error: e.GetBaseException().Message);
            }
            finally
            {
                _upstream = null;
                upstream?.Dispose();
                if (body is not null)
                {
                    await DrainBodyAsync(body);
                }
            }
        }
    }

    /// <summary>The request as it goes upstream, into the scratch buffer: its head rewritten, then its body when buffered whole; its length.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int WriteRequest(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> head, in RequestHead request, byte[] extra, bool whole)
    {
        var length = request.Length + extra.Length + (whole ? (int)request.ContentLength : 0);
        if (_scratch.Length < length)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = ArrayPool<byte>.Shared.Rent(length);
        }

        var written = RequestHeadParser.WriteUpstream(head, request, extra, _scratch);
        if (whole && request.ContentLength > 0)
        {
            buffer.Slice(request.Length, request.ContentLength).CopyTo(_scratch.AsSpan(written));
            written += (int)request.ContentLength;
        }

        return written;
    }

    /// <summary>
    /// The response head of a request whose body is still going up. An application may answer before it has read the
    /// whole body (a 413, say) and then stop reading or close; its answer is relayed all the same, as Envoy does, rather
    /// than a 502 for the body that could not be sent.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task<(ResponseHead? Head, string Error)> ReadEarlyResponseHeadAsync(UpstreamConnection upstream, bool headRequest, Task body)
    {
        var answer = ReadResponseHeadAsync(upstream, headRequest).AsTask();
        if (await Task.WhenAny(body, answer) == body && body.IsFaulted)
        {
            // The client broke off its body: nothing is to be answered, and the read of the upstream ends with it.
            upstream.Dispose();
            try
            {
                await answer;
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
            }

            await body;
        }

        return await answer;
    }

    /// <summary>
    /// Waits for a request body's copy to end. One the upstream no longer takes (the exchange ended first, or its writes
    /// failed) is read to its end and dropped within <see cref="Http1Limits.RequestBodyDrainTimeout"/>, so that a client
    /// still sending reads its answer rather than a reset.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask DrainBodyAsync(Task body)
    {
        if (!body.IsCompleted)
        {
            _dropBody = true;
            ExtendDeadline(_shared.Limits.RequestBodyDrainTimeout);
        }

        try
        {
            await body;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away or the drain time ran out: the connection closes either way.
        }
    }

    /// <summary>
    /// Copies a Content-Length body that was not all buffered from the client to the upstream as it arrives, while the
    /// response is awaited. Once the upstream stops taking it (<see cref="_dropBody"/>), the rest is read and dropped.
    /// Faults only when the client breaks off.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task CopyRequestBodyAsync(Stream upstream, long remaining)
    {
        while (remaining > 0)
        {
            var result = await _input.ReadAsync();
            var take = Math.Min(remaining, result.Buffer.Length);
            if (!_dropBody)
            {
                try
                {
                    foreach (var segment in result.Buffer.Slice(0, take))
                    {
                        await upstream.WriteAsync(segment);
                    }

                    ExtendDeadline(_shared.Limits.ActivityTimeout);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    // The application closed (or the exchange ended and closed it); whether it answered is the reader's to see.
                    _dropBody = true;
                }
            }

            _input.AdvanceTo(result.Buffer.GetPosition(take));
            remaining -= take;
            if (remaining > 0 && result.IsCompleted)
            {
                throw new ConnectionAbortedException("the client closed the connection within the request body");
            }
        }
    }

    /// <summary>Reads up to the final (non-1xx) response head, passing informational ones on; null with a reason when there is none to relay.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<(ResponseHead? Head, string Error)> ReadResponseHeadAsync(UpstreamConnection upstream, bool headRequest)
    {
        while (true)
        {
            var status = ResponseHeadParser.TryParse(upstream.Unread, _shared.Limits.MaxResponseHeadBytes, out var response);
            if (status == HeadStatus.NotHandled)
            {
                return (null, "the upstream's response head is malformed or too large");
            }

            if (status == HeadStatus.Incomplete)
            {
                var n = await upstream.ReadMoreAsync(_shared.Limits.MaxResponseHeadBytes);
                if (n < 0)
                {
                    return (null, "the upstream's response head is too large");
                }

                if (n == 0)
                {
                    return (null, upstream.End == 0 ? "the upstream closed the connection without answering" : "the upstream closed the connection within its response head");
                }

                continue;
            }

            if (response.Status == 101)
            {
                return (null, "the upstream switched protocols without being asked to");
            }

            if (!response.IsInformational)
            {
                return (response, "");
            }

            WriteHead(upstream, response, closeClient: false);
            await _output.FlushAsync();
        }
    }

    private void WriteHead(UpstreamConnection upstream, in ResponseHead response, bool closeClient)
    {
        var span = _output.GetSpan(ResponseHeadParser.MaxDownstreamLength(response.Length));
        _output.Advance(ResponseHeadParser.WriteDownstream(upstream.Unread, response, closeClient, span));
        upstream.Start += response.Length;
    }

    /// <summary>Relays the response from its final head on; also says whether the upstream connection can carry another request.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<(Exchange Exchange, bool Reusable)> RelayResponseAsync(UpstreamConnection upstream, ResponseHead response, bool clientClose, bool headRequest)
    {
        var hasBody = response.HasBody(headRequest);
        var untilClose = hasBody && response.BodyUntilClose;
        var closeClient = clientClose || untilClose || _closing;
        WriteHead(upstream, response, closeClient);
        var clean = true;
        if (hasBody)
        {
            clean = response.Chunked ? await RelayChunkedAsync(upstream) : await RelayLengthAsync(upstream, untilClose ? long.MaxValue : response.ContentLength);
        }

        var flushed = await _output.FlushAsync();
        if (!clean)
        {
            _connection.Abort(new ConnectionAbortedException("the upstream broke off its response"));
            return (new Exchange(response.Status, Outcome.Close, ResponseStarted: true), false);
        }

        var reusable = response.KeepAlive && !untilClose && upstream.Start == upstream.End;
        (upstream.Start, upstream.End) = (0, 0);
        return (new Exchange(response.Status, closeClient || flushed.IsCompleted ? Outcome.Close : Outcome.KeepAlive), reusable);
    }

    /// <summary>Relays <paramref name="remaining"/> body bytes (long.MaxValue: until the upstream closes); false when it ended early.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<bool> RelayLengthAsync(UpstreamConnection upstream, long remaining)
    {
        var buffered = (int)Math.Min(remaining, upstream.End - upstream.Start);
        _output.Write(upstream.Unread[..buffered]);
        upstream.Start += buffered;
        remaining -= buffered;
        while (remaining > 0)
        {
            var flushed = await _output.FlushAsync();
            if (flushed.IsCompleted)
            {
                return false;
            }

            var memory = _output.GetMemory(UpstreamConnection.BufferBytes);
            var n = await upstream.ReceiveAsync(memory[..(int)Math.Min(memory.Length, remaining)]);
            if (n == 0)
            {
                return remaining == long.MaxValue;
            }

            _output.Advance(n);
            if (remaining != long.MaxValue)
            {
                remaining -= n;
            }

            ExtendDeadline(_shared.Limits.ActivityTimeout);
        }

        return true;
    }

    /// <summary>Relays a chunked body as it is, following its framing to its end; false when it broke off or broke the framing.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<bool> RelayChunkedAsync(UpstreamConnection upstream)
    {
        var scanner = new ChunkedBodyScanner();
        while (true)
        {
            var taken = scanner.Scan(upstream.Unread);
            if (taken < 0)
            {
                return false;
            }

            _output.Write(upstream.Unread[..taken]);
            upstream.Start += taken;
            if (scanner.IsDone)
            {
                return true;
            }

            (upstream.Start, upstream.End) = (0, 0);
            var flushed = await _output.FlushAsync();
            if (flushed.IsCompleted || await upstream.ReadMoreAsync(UpstreamConnection.BufferBytes) <= 0)
            {
                return false;
            }

            ExtendDeadline(_shared.Limits.ActivityTimeout);
        }
    }

    /// <summary>
    /// Answers from the proxy itself. The request is consumed when it was buffered whole, so the connection can go on;
    /// otherwise (its body is still coming, or part of it was sent on) the connection closes after the answer.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async ValueTask<Outcome> ReplyAsync(ReadOnlySequence<byte> buffer, RequestHead request, int status, string reason, string body, bool consumed = false)
    {
        var whole = !consumed && request.Length + request.ContentLength <= buffer.Length;
        if (whole)
        {
            _input.AdvanceTo(buffer.GetPosition(request.Length + request.ContentLength));
        }
        else if (!consumed)
        {
            _input.AdvanceTo(buffer.GetPosition(request.Length));
        }

        var close = !whole || request.Close || _closing;
        var text = $"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n{(close ? "Connection: close\r\n" : "")}\r\n{body}";
        _output.Write(Encoding.UTF8.GetBytes(text));
        var flushed = await _output.FlushAsync();
        return close || flushed.IsCompleted ? Outcome.Close : Outcome.KeepAlive;
    }

    private void RecordOutbound(ServiceRoute route, UpstreamEndpoint? endpoint, int status, long started) =>
        _shared.Metrics.SourceRequest(_shared.Options, _shared.Principal, route.Hostname, endpoint, status, started);

    private void RecordInbound(string service, int status, long started) =>
        _shared.Metrics.DestinationRequest(_shared.Options, _peerName, service, status, started);

    public void Dispose()
    {
        _closeRequested.Dispose();
        ArrayPool<byte>.Shared.Return(_scratch);
    }
}
