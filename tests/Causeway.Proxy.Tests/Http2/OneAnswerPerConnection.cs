using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Causeway.Testing;

namespace Causeway.Proxy.Tests.Http2;

/// <summary>
/// An HTTP/2 server that answers the first stream of each connection once its request has ended ("ok" and the
/// request's body), then sends GOAWAY naming it as the last, so that every later stream is left out unprocessed, as a
/// server rotating its connections does (nginx at keepalive_requests). h2c, or HTTP/2 over TLS with ALPN h2 when given a
/// certificate (standing in for a destination sidecar).
/// </summary>
internal sealed class OneAnswerPerConnection : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeSpan _answerAfter;
    private readonly SslStreamCertificateContext? _certificate;
    private int _connections;
    private int _leftOut;

    /// <param name="answerAfter">How long to wait before the one answer, so that more streams come on the connection meanwhile.</param>
    /// <param name="certificate">Serve TLS with this chain, any client certificate accepted; null for h2c.</param>
    public OneAnswerPerConnection(IPAddress address, int port, TimeSpan answerAfter = default, SslStreamCertificateContext? certificate = null)
    {
        _answerAfter = answerAfter;
        _certificate = certificate;
        _listener = new TcpListener(address, port);
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Streams that came after a connection's first one: those its GOAWAY left out.</summary>
    public int LeftOut => Volatile.Read(ref _leftOut);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        Stream stream = client.GetStream();
        try
        {
            if (_certificate is not null)
            {
                var tls = new SslStream(stream);
                stream = tls;
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = _certificate,
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                    ClientCertificateRequired = true,
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                }, _stop.Token);
            }

            await using var owned = stream;
            await stream.ReadExactlyAsync(new byte[24], _stop.Token);
            await stream.WriteAsync(Http2FrameClient.Frame(Http2FrameClient.Settings, 0, 0, []), _stop.Token);
            var header = new byte[9];
            var (first, answered) = (0u, false);
            var body = new MemoryStream();
            body.Write("ok"u8);
            while (true)
            {
                await stream.ReadExactlyAsync(header, _stop.Token);
                var payload = new byte[(header[0] << 16) | (header[1] << 8) | header[2]];
                await stream.ReadExactlyAsync(payload, _stop.Token);
                var id = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) & 0x7FFFFFFF;
                if (header[3] == Http2FrameClient.Headers && first == 0)
                {
                    first = id;
                }
                else if (header[3] == Http2FrameClient.Headers && id != first)
                {
                    Interlocked.Increment(ref _leftOut);
                }

                if (answered || id != first || header[3] is not (Http2FrameClient.Headers or Http2FrameClient.Data))
                {
                    continue;
                }

                if (header[3] == Http2FrameClient.Data)
                {
                    body.Write(payload);
                }

                if ((header[4] & Http2FrameClient.EndStream) == 0)
                {
                    continue;
                }

                answered = true;
                if (_answerAfter > TimeSpan.Zero)
                {
                    // The streams that came meanwhile are read by the loop after the GOAWAY, and counted there.
                    await Task.Delay(_answerAfter, _stop.Token);
                }

                var goAway = new byte[8];
                BinaryPrimitives.WriteUInt32BigEndian(goAway, id);
                await stream.WriteAsync(Http2FrameClient.Frame(Http2FrameClient.Headers, Http2FrameClient.EndHeaders, id, [0x88]), _stop.Token);
                await stream.WriteAsync(Http2FrameClient.Frame(Http2FrameClient.Data, Http2FrameClient.EndStream, id, body.ToArray()), _stop.Token);
                await stream.WriteAsync(Http2FrameClient.Frame(Http2FrameClient.GoAway, 0, 0, goAway), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or EndOfStreamException or System.Security.Authentication.AuthenticationException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
