using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Causeway.Core.Naming;
using Causeway.Proxy.Gateway;
using Causeway.Proxy.LoadBalancing;

namespace Causeway.Benchmarks;

/// <summary>The per-connection and per-request work of the proxies: reading a ClientHello, parsing the SNI, picking an endpoint.</summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";
    private readonly byte[] _name = new byte[ClientHelloParser.MaxServerName];
    private ReadOnlySequence<byte> _hello;
    private RoundRobinPicker _roundRobin = null!;
    private LeastRequestPicker _leastRequest = null!;

    [GlobalSetup]
    public void Setup()
    {
        _hello = new ReadOnlySequence<byte>(CaptureClientHello(Sni));
        var endpoints = Enumerable.Range(0, 10).Select(i => new UpstreamEndpoint($"10.0.0.{i}", 5000, (uint)(1 + (i % 3)), i >= 8, "c", "n", $"w{i}")).ToArray();
        _roundRobin = new RoundRobinPicker(endpoints);
        _leastRequest = new LeastRequestPicker(endpoints);
    }

    [Benchmark]
    public ClientHelloStatus ParseClientHello() => ClientHelloParser.TryParse(_hello, 32 * 1024, _name, out _, out _);

    [Benchmark]
    public bool ParseMeshSni() => MeshSni.TryParse(Sni, out _);

    [Benchmark]
    public UpstreamEndpoint? PickRoundRobin() => _roundRobin.Pick();

    [Benchmark]
    public UpstreamEndpoint? PickLeastRequest() => _leastRequest.Pick();

    /// <summary>A real ClientHello from .NET's SslStream for <paramref name="sni"/> with the mesh ALPN.</summary>
    public static byte[] CaptureClientHello(string sni)
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var client = Task.Run(async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
            using var ssl = new SslStream(tcp.GetStream());
            try
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = sni, ApplicationProtocols = [SslApplicationProtocol.Http2, new("istio-h2")] }).WaitAsync(TimeSpan.FromSeconds(5));
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
