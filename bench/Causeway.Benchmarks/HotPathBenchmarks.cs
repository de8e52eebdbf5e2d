using System.Buffers;
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
        _hello = new ReadOnlySequence<byte>(Causeway.Testing.ClientHellos.Capture(Sni));
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
}
