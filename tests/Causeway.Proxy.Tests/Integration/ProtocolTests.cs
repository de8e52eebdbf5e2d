using System.Net;
using System.Net.Sockets;
using System.Text;
using Causeway.Api.V1;
using Causeway.Proxy.Gateway;
using Causeway.Testing;
using Grpc.Core;
using Grpc.Net.Client;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>Raw TCP and gRPC carried end to end by the sidecars (and, for TCP, across networks by the gateway).</summary>
public class ProtocolTests
{
    [Fact]
    public async Task RawTcpIsTunnelledWithConnect_AndCrossesTheGatewayToAnotherNetwork()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var c2 = await lab.StartClusterAsync("cluster2", "network2");
        await lab.LinkAsync(c1, c2);
        var (sleepIp, echoIp, gwIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(9000, 15006), LoopbackAddresses.Next(15443));
        await c1.ApplyAsync(Service("echo", 9000, "TCP"));
        await c2.ApplyAsync(Service("echo", 9000, "TCP") + "\n---\n" + Workload("echo-v1", "echo", echoIp.ToString(), "v1", 9000, "echo") + "\n---\n" + EastWestGateway(gwIp.ToString(), "network2") + "\n---\n" + ExposeServices);
        await using var echo = new EchoServer(echoIp, 9000, "echo-v1");
        await lab.StartSidecarAsync(c2, "echo-v1", "sample", "echo", echoIp);
        var gateway = await lab.StartGatewayAsync(c2, gwIp);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep, "echo.sample.svc.cluster.local", 9000) == 1 && DataPlaneLab.Endpoints(gateway, "echo.sample.svc.cluster.local", 9000) == 1, "sleep sees echo through the gateway");

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sleepIp, 15001);
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT echo.sample:9000 HTTP/1.1\r\nHost: echo.sample:9000\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 200", await ReadUntilAsync(stream, "\r\n\r\n"), StringComparison.Ordinal);
        await stream.WriteAsync("ping across networks\n"u8.ToArray());
        Assert.Equal("echo-v1:ping across networks\n", await ReadUntilAsync(stream, "\n"));
        Assert.Equal(1, gateway.Metrics.ConnectionCount(SniRouter.Listener, "forwarded"));

        // A CONNECT to a name that is not a mesh service is refused, not passed through.
        using var other = new TcpClient();
        await other.ConnectAsync(sleepIp, 15001);
        await other.GetStream().WriteAsync("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 404", await ReadUntilAsync(other.GetStream(), "\r\n\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnApplicationClosingItsSide_EndsTheMeshClientsReads_ThoughTheClientsSideIsOpen()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, echoIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(9000, 15006));
        await c1.ApplyAsync(Service("echo", 9000, "TCP") + "\n---\n" + Workload("echo-v1", "echo", echoIp.ToString(), "v1", 9000, "echo"));
        await using var echo = new EchoServer(echoIp, 9000, "echo-v1");
        await lab.StartSidecarAsync(c1, "echo-v1", "sample", "echo", echoIp);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep, "echo.sample.svc.cluster.local", 9000) == 1, "sleep sees echo");

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sleepIp, 15001);
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT echo.sample:9000 HTTP/1.1\r\nHost: echo.sample:9000\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 200", await ReadUntilAsync(stream, "\r\n\r\n"), StringComparison.Ordinal);
        await stream.WriteAsync("QUIT\n"u8.ToArray());

        // The application's FIN crosses the mesh hop as close_notify and reaches the client as its own FIN.
        using var reader = new StreamReader(stream, Encoding.ASCII);
        Assert.Equal("echo-v1:bye\n", await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task GrpcIsCarriedEndToEnd_WithTrailers()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, grpcIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(7070, 15006));
        await c1.ApplyAsync(Service("greeter", 7070, "GRPC") + "\n---\n" + Workload("greeter-v1", "greeter", grpcIp.ToString(), "v1", 7070, "greeter"));
        var app = await GreeterService.StartAsync(grpcIp, 7070, "greeter-v1");
        await using var _ = app;
        await lab.StartSidecarAsync(c1, "greeter-v1", "sample", "greeter", grpcIp);
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        await DataPlaneLab.WaitUntilAsync(() => DataPlaneLab.Endpoints(sleep, "greeter.sample.svc.cluster.local", 7070) == 1, "sleep sees greeter");

        // The application dials the service's name; as transparent capture would, its connection lands on the sidecar.
        using var channel = GrpcChannel.ForAddress("http://greeter.sample:7070", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, token) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(sleepIp, 15001, token);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            },
        });
        var client = new Api.V1.Registry.RegistryClient(channel);
        using var call = client.ClusterInfoAsync(new ClusterInfoRequest());
        var reply = await call.ResponseAsync;
        Assert.Equal("greeter-v1", reply.Cluster);
        Assert.Contains("URI=spiffe://cluster.local/ns/sample/sa/sleep", reply.Network, StringComparison.Ordinal);
        Assert.Equal("greeter-v1", call.GetTrailers().GetValue("served-by"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    private static async Task<string> ReadUntilAsync(Stream stream, string terminator)
    {
        var text = new StringBuilder();
        var buffer = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!text.ToString().EndsWith(terminator, StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(buffer, timeout.Token) == 0)
            {
                break;
            }

            text.Append((char)buffer[0]);
        }

        return text.ToString();
    }
}
