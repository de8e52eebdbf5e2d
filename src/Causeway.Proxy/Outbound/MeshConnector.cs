using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Causeway.Proxy.Security;
using Causeway.Proxy.Security.OpenSsl;
using Causeway.Proxy.Transport;

namespace Causeway.Proxy.Outbound;

/// <summary>Opens mesh connections: TCP to the endpoint's sidecar or a gateway, then mTLS with the mesh SNI and ALPN; plain TCP to an endpoint with no sidecar.</summary>
public sealed class MeshConnector(ProxyOptions options, MeshTls tls, UpstreamTargets targets)
{
    /// <summary>SocketsHttpHandler's ConnectCallback: the request's host is an <see cref="UpstreamTargets"/> name.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var target = targets.Resolve(context.DnsEndPoint.Host) ?? throw new HttpRequestException($"unknown upstream '{context.DnsEndPoint.Host}'");
        return await ConnectAsync(target, context.InitialRequestMessage.Version.Major >= 2 ? MeshProtocol.Http2 : MeshProtocol.Http11, cancellationToken);
    }

    /// <summary>An HTTP/1.1 mesh connection for the direct path, TCP and handshake together within the connect timeout.</summary>
    public async Task<(Socket Tcp, OpenSslClientStream Tls)> ConnectHttp11Async(UpstreamTarget target, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        var socket = await ConnectPlaintextAsync(target.Address, target.Port, timeout.Token);
        try
        {
            return (socket, await HandshakeAsync(socket, target.Sni, MeshProtocol.Http11, timeout.Token));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A raw TCP mesh connection (ALPN istio), for tunnels and captured TCP.</summary>
    public Task<OpenSslClientStream> ConnectAsync(UpstreamTarget target, CancellationToken cancellationToken) => ConnectAsync(target, MeshProtocol.Tcp, cancellationToken);

    private async Task<OpenSslClientStream> ConnectAsync(UpstreamTarget target, MeshProtocol protocol, CancellationToken cancellationToken)
    {
        var socket = await ConnectPlaintextAsync(target.Address, target.Port, cancellationToken);
        try
        {
            return await HandshakeAsync(socket, target.Sni, protocol, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private Task<OpenSslClientStream> HandshakeAsync(Socket socket, string sni, MeshProtocol protocol, CancellationToken cancellationToken) =>
        tls.ConnectAsync(new NetworkStream(socket, ownsSocket: true), sni, protocol, cancellationToken);

    /// <summary>
    /// The direct path's upstream connection on an event loop (<see cref="ProxyOptions.EventLoop"/>): plain TCP when
    /// <see cref="UpstreamTarget.Sni"/> is empty, else HTTP/1.1 mTLS over it; TCP and handshake within the connect timeout.
    /// </summary>
    public async Task<(ReadinessSocket Tcp, Stream Stream)> ConnectOnLoopAsync(UpstreamTarget target, CancellationToken cancellationToken, MeshProtocol protocol = MeshProtocol.Http11)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        var socket = await ConnectOnLoopAsync(target, timeout.Token);
        var stream = new ReadinessStream(socket);
        if (target.Sni.Length == 0)
        {
            return (socket, stream);
        }

        try
        {
            return (socket, await tls.ConnectAsync(stream, target.Sni, protocol, timeout.Token));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        static async Task<ReadinessSocket> ConnectOnLoopAsync(UpstreamTarget target, CancellationToken timeout)
        {
            try
            {
                return await ReadinessSocket.ConnectAsync(new IPEndPoint(IPAddress.Parse(target.Address), target.Port), EventLoop.Pick(), timeout);
            }
            catch (SocketException) when (timeout.IsCancellationRequested)
            {
                // As .NET's own connect reports a connect timeout.
                throw new OperationCanceledException(timeout);
            }
        }
    }

    /// <summary>
    /// The HTTP/2 path's upstream connection: h2c when <see cref="UpstreamTarget.Sni"/> is empty, else mTLS that must
    /// have agreed on h2; on an event loop when the sidecar runs them. TCP and handshake within the connect timeout.
    /// </summary>
    public async Task<Stream> ConnectHttp2Async(UpstreamTarget target, CancellationToken cancellationToken)
    {
        Stream stream;
        if (options.EventLoop)
        {
            (_, stream) = await ConnectOnLoopAsync(target, cancellationToken, MeshProtocol.Http2);
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            var socket = await ConnectPlaintextAsync(target.Address, target.Port, timeout.Token);
            stream = target.Sni.Length == 0 ? new NetworkStream(socket, ownsSocket: true) : await HandshakeAsync(socket, target.Sni, MeshProtocol.Http2, timeout.Token);
        }

        if (stream is OpenSslClientStream mtls && !mtls.ApplicationProtocol.Span.SequenceEqual(SslApplicationProtocol.Http2.Protocol.Span))
        {
            await stream.DisposeAsync();
            throw new HttpRequestException($"{target.Address}:{target.Port} did not agree to HTTP/2 (ALPN '{System.Text.Encoding.ASCII.GetString(mtls.ApplicationProtocol.Span)}')");
        }

        return stream;
    }

    /// <summary>A plain TCP connection within the connect timeout: to an endpoint with no sidecar, or the first step of mTLS.</summary>
    public async Task<Socket> ConnectPlaintextAsync(string address, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            await socket.ConnectAsync(IPAddress.Parse(address), port, timeout.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
