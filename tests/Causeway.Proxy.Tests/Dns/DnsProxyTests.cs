using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Causeway.Api.V1;
using Causeway.Core.Security;
using Causeway.Proxy.Admin;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Dns;
using Microsoft.Extensions.Logging.Abstractions;

namespace Causeway.Proxy.Tests.Dns;

public sealed class DnsProxyTests : IAsyncLifetime
{
    private static readonly string RootPem = CreateRootPem();
    private readonly ProxyMetrics _metrics = new();
    private DnsProxy _dns = null!;
    private UdpClient? _upstream;
    private Task _upstreamLoop = Task.CompletedTask;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
        _upstream?.Dispose();
        await _upstreamLoop.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task Mesh_names_and_their_short_forms_resolve_to_the_virtual_address()
    {
        Start(upstream: null);

        foreach (var name in new[] { "helloworld.sample.svc.cluster.local", "helloworld.sample.svc", "helloworld.sample", "HelloWorld.Sample.", "helloworld" })
        {
            var reply = await QueryUdpAsync(name, DnsQuery.TypeA);
            Assert.Equal(0, reply[3] & 0x0F);
            Assert.Equal(IPAddress.Parse("240.240.7.9"), AnswerAddress(reply));
        }

        Assert.Equal(5, _metrics.ConnectionCount("dns", "answered"));
    }

    [Fact]
    public async Task An_aaaa_query_for_a_mesh_name_gets_no_data_not_nxdomain()
    {
        Start(upstream: null);

        var reply = await QueryUdpAsync("helloworld.sample", 28);

        Assert.Equal(0, reply[3] & 0x0F);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(6)));
    }

    [Theory]
    [InlineData("helloworld.sample.sample.svc.cluster.local")]
    [InlineData("nosuch.sample.svc.cluster.local")]
    [InlineData("example.org")]
    public async Task Other_names_get_nxdomain_without_an_upstream(string name)
    {
        Start(upstream: null);

        var reply = await QueryUdpAsync(name, DnsQuery.TypeA);

        Assert.Equal(3, reply[3] & 0x0F);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(6)));
    }

    [Fact]
    public async Task Names_outside_the_mesh_go_to_the_upstream_and_cluster_names_never_do()
    {
        StartUpstream();
        Start((IPEndPoint)_upstream!.Client.LocalEndPoint!);

        var outside = await QueryUdpAsync("example.org", DnsQuery.TypeA);
        Assert.Equal(IPAddress.Parse("192.0.2.55"), AnswerAddress(outside));

        var cluster = await QueryUdpAsync("nosuch.sample.svc.cluster.local", DnsQuery.TypeA);
        Assert.Equal(3, cluster[3] & 0x0F);
        Assert.Equal(1, _metrics.ConnectionCount("dns", "forwarded"));
    }

    [Fact]
    public async Task Tcp_queries_are_answered_on_the_same_port_several_per_connection()
    {
        Start(upstream: null);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(_dns.UdpEndPoint!);
        var stream = tcp.GetStream();
        for (var i = 0; i < 3; i++)
        {
            var query = Query((ushort)(100 + i), "helloworld.sample", DnsQuery.TypeA);
            var framed = new byte[2 + query.Length];
            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
            query.CopyTo(framed, 2);
            await stream.WriteAsync(framed);
            var prefix = new byte[2];
            await stream.ReadExactlyAsync(prefix);
            var reply = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
            await stream.ReadExactlyAsync(reply);
            Assert.Equal(100 + i, BinaryPrimitives.ReadUInt16BigEndian(reply));
            Assert.Equal(IPAddress.Parse("240.240.7.9"), AnswerAddress(reply));
        }
    }

    [Fact]
    public void Malformed_queries_get_formerr_and_responses_are_dropped()
    {
        Start(upstream: null);
        var reply = new byte[512];

        var twoQuestions = Query(1, "helloworld.sample", DnsQuery.TypeA);
        twoQuestions[5] = 2;
        Assert.True(_dns.Answer(twoQuestions, reply) > 0);
        Assert.Equal(1, reply[3] & 0x0F);

        var pointer = Query(2, "a", DnsQuery.TypeA);
        pointer[12] = 0xC0;
        Assert.True(_dns.Answer(pointer, reply) > 0);
        Assert.Equal(1, reply[3] & 0x0F);

        var response = Query(3, "helloworld.sample", DnsQuery.TypeA);
        response[2] |= 0x80;
        Assert.Equal(0, _dns.Answer(response, reply));

        var random = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            var junk = new byte[random.Next(0, 80)];
            random.NextBytes(junk);
            var length = _dns.Answer(junk, reply);
            Assert.InRange(length, 0, reply.Length);
        }
    }

    private void Start(IPEndPoint? upstream)
    {
        var service = new MeshServiceConfig { Hostname = "helloworld.sample.svc.cluster.local", Name = "helloworld", Namespace = "sample", VirtualAddress = "240.240.7.9", LoadBalancer = "ROUND_ROBIN" };
        service.Ports.Add(new ServicePortConfig { Number = 5000, Name = "http", Protocol = "http" });
        var config = new ProxyConfig { TrustBundlePem = RootPem };
        config.Services.Add(service);
        var holder = new ProxyConfigHolder();
        holder.Set(ProxySnapshot.Compile("v1", config, null));
        var options = new ProxyOptions
        {
            ControlPlane = new Uri("https://127.0.0.1:1"), RootCaPem = RootPem, Token = "", WorkloadName = "sleep", Namespace = "sample", Network = "n",
            DnsPort = 0, DnsUpstream = upstream,
        };
        _dns = new DnsProxy(options, holder, _metrics, NullLogger<DnsProxy>.Instance);
        _dns.Start();
    }

    /// <summary>A resolver that answers every A query with 192.0.2.55.</summary>
    private void StartUpstream()
    {
        _upstream = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        _upstreamLoop = Task.Run(async () =>
        {
            while (true)
            {
                var received = await _upstream.ReceiveAsync();
                var reply = Answer(received.Buffer);
                await _upstream.SendAsync(reply, received.RemoteEndPoint);
            }
        });
    }

    private static byte[] Answer(byte[] query)
    {
        Span<char> name = stackalloc char[DnsQuery.MaxNameLength];
        DnsQuery.TryRead(query, name, out var q);
        var reply = new byte[512];
        var n = DnsQuery.WriteReply(query, q, 0, [192, 0, 2, 55], 60, reply);
        return reply[..n];
    }

    private async Task<byte[]> QueryUdpAsync(string name, ushort type)
    {
        using var client = new UdpClient();
        client.Connect(_dns.UdpEndPoint!);
        var query = Query(0x4242, name, type);
        await client.SendAsync(query);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var reply = (await client.ReceiveAsync(timeout.Token)).Buffer;
        Assert.Equal(0x4242, BinaryPrimitives.ReadUInt16BigEndian(reply));
        Assert.Equal(0x80, reply[2] & 0x80);
        return reply;
    }

    private static byte[] Query(ushort id, string name, ushort type)
    {
        var bytes = new List<byte>();
        bytes.AddRange([(byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        foreach (var label in name.TrimEnd('.').Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }

        bytes.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        return [.. bytes];
    }

    private static IPAddress? AnswerAddress(byte[] reply)
    {
        if (BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(6)) == 0)
        {
            return null;
        }

        // The one answer is the last 16 bytes: pointer, type, class, ttl, length, address.
        Assert.Equal(DnsQuery.TypeA, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(reply.Length - 14)));
        return new IPAddress(reply.AsSpan(reply.Length - 4));
    }

    private static string CreateRootPem()
    {
        using var root = CertificateAuthority.CreateRoot("dns test");
        return root.RootPem;
    }
}
