using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Causeway.Testing;

/// <summary>Real ClientHellos from .NET's SslStream, captured on loopback, for gateway tests and benchmarks.</summary>
public static class ClientHellos
{
    /// <summary>The first TLS record a client sends for <paramref name="sni"/> offering <paramref name="alpn"/> (default h2 and istio-h2).</summary>
    public static byte[] Capture(string sni, params string[] alpn)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var protocols = (alpn.Length == 0 ? ["h2", "istio-h2"] : alpn).Select(a => new SslApplicationProtocol(a)).ToList();
        var client = Task.Run(async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            using var ssl = new SslStream(tcp.GetStream());
            try
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = sni, ApplicationProtocols = protocols }).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception)
            {
            }
        });
        using var accepted = listener.AcceptTcpClient();
        var buffer = new byte[16384];
        var total = 0;
        while (total < 5 || total < 5 + ((buffer[3] << 8) | buffer[4]))
        {
            total += accepted.GetStream().Read(buffer, total, buffer.Length - total);
        }

        accepted.Close();
        client.Wait(TimeSpan.FromSeconds(10));
        return buffer[..total];
    }
}
