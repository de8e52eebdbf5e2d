using System.Net;
using System.Net.Sockets;
using Causeway.Proxy.Gateway;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Hostile;

/// <summary>Reliability suite G1 (T1–T4): what an internet-facing east-west gateway does with bytes that are not a good ClientHello.</summary>
public class GatewayHostileInputTests
{
    private const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";

    [Fact]
    public async Task SlowFragmentedOversizedAndNonTlsHellos_AreHandledAndCounted_AndTheGatewayKeepsServing()
    {
        await using var lab = new DataPlaneLab();
        var c2 = await lab.StartClusterAsync("cluster2", "network2");
        var (v2Ip, gwIp) = (LoopbackAddresses.Next(5000, 15006), LoopbackAddresses.Next(15443, 15000, 15021));
        await c2.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v2", "helloworld", v2Ip.ToString(), "v2") + "\n---\n" + EastWestGateway(gwIp.ToString(), "network2") + "\n---\n" + ExposeServices);
        await lab.StartAppAsync(v2Ip, 5000, "v2", "v2");
        await lab.StartSidecarAsync(c2, "helloworld-v2", "sample", "helloworld", v2Ip);
        var gateway = await lab.StartGatewayAsync(c2, gwIp, clientHelloTimeout: TimeSpan.FromSeconds(1));
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(gateway) == 1, "the gateway sees v2");
        var hello = Hello(Sni);

        // T2: the ClientHello one byte per TCP segment still routes (the destination sidecar answers the handshake).
        using (var fragmented = new TcpClient { NoDelay = true })
        {
            await fragmented.ConnectAsync(gwIp, 15443);
            // NoDelay sends each byte as its own segment; no sleep, so the whole hello beats the 1 s limit.
            foreach (var b in hello)
            {
                await fragmented.GetStream().WriteAsync(new[] { b });
            }

            var reply = new byte[5];
            Assert.Equal(5, await fragmented.GetStream().ReadAtLeastAsync(reply, 5).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(0x16, reply[0]);
        }

        Assert.Equal(1, gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded"));

        // T4: a ClientHello trickling in is closed at the ClientHello timeout (1 s here), not held open.
        using (var slow = new TcpClient())
        {
            await slow.ConnectAsync(gwIp, 15443);
            var closed = ReadToEndAsync(slow.GetStream());
            var started = DateTime.UtcNow;
            for (var i = 0; i < 10 && !closed.IsCompleted; i++)
            {
                try
                {
                    await slow.GetStream().WriteAsync(hello.AsMemory(i, 1));
                }
                catch (IOException)
                {
                    break;
                }

                await Task.Delay(300);
            }

            await closed.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "the slow ClientHello was held open");
        }

        Assert.Equal(1, gateway.Metrics.ConnectionCount(SniRouter.Listener, "hello_timeout"));

        // T3: larger than the 32 KiB limit: refused before it all arrives.
        byte[] huge = [0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00, .. new byte[0x4000 - 4]];
        Assert.Equal(0, await SendAsync(gwIp, huge));
        Assert.Equal(1, gateway.Metrics.ConnectionCount(SniRouter.Listener, "hello_too_large"));

        // T1: many non-TLS connections are each closed and counted; valid traffic still routes afterwards.
        for (var i = 0; i < 500; i++)
        {
            Assert.Equal(0, await SendAsync(gwIp, "SSH-2.0-OpenSSH_9.6\r\n"u8.ToArray()));
        }

        Assert.Equal(500, gateway.Metrics.ConnectionCount(SniRouter.Listener, "not_tls"));
        using var after = new TcpClient();
        await after.ConnectAsync(gwIp, 15443);
        await after.GetStream().WriteAsync(hello);
        var answer = new byte[1];
        Assert.Equal(1, await after.GetStream().ReadAtLeastAsync(answer, 1).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded"));
    }

    private static async Task<int> SendAsync(IPAddress address, byte[] bytes)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address, 15443);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(bytes);
        }
        catch (IOException)
        {
            return 0;
        }

        return await ReadToEndAsync(stream).WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task<int> ReadToEndAsync(Stream stream)
    {
        var total = 0;
        var buffer = new byte[1024];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                total += n;
            }
        }
        catch (IOException)
        {
        }

        return total;
    }

    private static byte[] Hello(string sni) => ClientHellos.Capture(sni);
}
