using System.Buffers;
using BenchmarkDotNet.Attributes;
using Causeway.Core.Naming;
using Causeway.Proxy.Gateway;
using Causeway.Proxy.Http2.Hpack;
using Causeway.Proxy.LoadBalancing;

namespace Causeway.Benchmarks;

/// <summary>
/// The per-connection and per-request work of the proxies: reading a ClientHello, parsing the SNI, picking an endpoint,
/// decoding and encoding an HTTP/2 request head.
/// </summary>
[MemoryDiagnoser]
public class HotPathBenchmarks : IDisposable
{
    private readonly HpackDecoder _decoder = new();
    private readonly HeaderList _headers = new();
    private readonly byte[] _encoded = new byte[1024];
    private byte[] _repeatedHead = [];
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

        // A gRPC client's request heads on one connection, as nghttp2 and grpc-dotnet write them: the first puts the
        // authority and the repeated fields into the dynamic table, the next ones refer to them and send only the
        // path again (Huffman-coded, not indexed). The benchmark decodes one of the next ones.
        var first = new List<byte> { 0x83, 0x86 };
        Literal(first, 0x00, StaticTable.PathRoot, "/helloworld.Greeter/SayHello");
        Literal(first, 0x40, StaticTable.Authority, "greeter.sample.svc.cluster.local:7070");
        Literal(first, 0x40, StaticTable.ContentType, "application/grpc");
        Literal(first, 0x40, StaticTable.UserAgent, "grpc-dotnet/2.67.0 (.NET 10.0.0; CLR 10.0.0; net10.0; linux; x64)");
        first.AddRange([0x40, 0x02, (byte)'t', (byte)'e']);
        Literal(first, 0x00, -1, "trailers");
        _decoder.Decode(first.ToArray(), _headers, 64 * 1024);
        var next = new List<byte> { 0x83, 0x86 };
        Literal(next, 0x00, StaticTable.PathRoot, "/helloworld.Greeter/SayHello");
        next.AddRange([0xC1, 0xC0, 0xBF, 0xBE]);
        _repeatedHead = [.. next];
    }

    /// <summary>A literal field: <paramref name="kind"/> 0x40 indexes it, 0x00 does not; the name by static index (-1: the value only, its name written before).</summary>
    private static void Literal(List<byte> block, byte kind, int nameIndex, string value)
    {
        var integer = new byte[8];
        if (nameIndex >= 0)
        {
            block.AddRange(integer.AsSpan(0, HpackEncoder.WriteInteger(nameIndex, kind == 0x40 ? 6 : 4, kind, integer)).ToArray());
        }

        var bytes = System.Text.Encoding.ASCII.GetBytes(value);
        var huffman = new byte[HuffmanCode.EncodedLength(bytes)];
        HuffmanCode.Encode(bytes, huffman);
        block.AddRange(integer.AsSpan(0, HpackEncoder.WriteInteger(huffman.Length, 7, 0x80, integer)).ToArray());
        block.AddRange(huffman);
    }

    [Benchmark]
    public ClientHelloStatus ParseClientHello() => ClientHelloParser.TryParse(_hello, 32 * 1024, _name, out _, out _);

    [Benchmark]
    public bool ParseMeshSni() => MeshSni.TryParse(Sni, out _);

    [Benchmark]
    public UpstreamEndpoint? PickRoundRobin() => _roundRobin.Pick();

    [Benchmark]
    public UpstreamEndpoint? PickLeastRequest() => _leastRequest.Pick();

    /// <summary>The sidecar reading a gRPC request head (dynamic-table references and a Huffman-coded path) into its reused list.</summary>
    [Benchmark]
    public int DecodeRequestHead() => _decoder.Decode(_repeatedHead, _headers, 64 * 1024) == HpackResult.Complete ? _headers.Count : -1;

    /// <summary>The sidecar writing that head for the upstream: static-table references and plain literals.</summary>
    [Benchmark]
    public int EncodeRequestHead()
    {
        var span = _encoded.AsSpan();
        var n = HpackEncoder.WriteIndexed(StaticTable.MethodPost, span);
        n += HpackEncoder.WriteIndexed(StaticTable.SchemeHttp, span[n..]);
        n += HpackEncoder.WriteLiteral(StaticTable.PathRoot, "/helloworld.Greeter/SayHello"u8, span[n..]);
        n += HpackEncoder.WriteLiteral(StaticTable.Authority, "greeter.sample.svc.cluster.local:7070"u8, span[n..]);
        n += HpackEncoder.WriteLiteral("content-type"u8, "application/grpc"u8, span[n..]);
        n += HpackEncoder.WriteLiteral("te"u8, "trailers"u8, span[n..]);
        return n;
    }

    public void Dispose()
    {
        _headers.Dispose();
        GC.SuppressFinalize(this);
    }
}
