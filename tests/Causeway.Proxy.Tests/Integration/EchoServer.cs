using System.Net;
using System.Net.Sockets;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>
/// A raw TCP application: echoes every byte back, prefixed once by its name; told QUIT, it answers "bye" and closes
/// the connection itself, as SMTP and Redis servers do.
/// </summary>
internal sealed class EchoServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;

    public EchoServer(IPAddress address, int port, string name)
    {
        _listener = new TcpListener(address, port);
        _listener.Start();
        _accept = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        var stream = client.GetStream();
                        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(name + ":"));
                        var buffer = new byte[4096];
                        int n;
                        while ((n = await stream.ReadAsync(buffer)) > 0)
                        {
                            if (buffer.AsSpan(0, n).IndexOf("QUIT"u8) >= 0)
                            {
                                await stream.WriteAsync("bye\n"u8.ToArray());
                                break;
                            }

                            await stream.WriteAsync(buffer.AsMemory(0, n));
                        }
                    }
                });
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        _stop.Dispose();
    }
}
