using System.Buffers;
using Causeway.Api.V1;
using Causeway.ControlPlane.Discovery;
using Grpc.Core;

namespace Causeway.ControlPlane.Tests.Discovery;

/// <summary>A response assembled from pre-encoded parts parses, with the generated parser, as the message it stands for.</summary>
public class EncodedDiscoveryResponseTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static MeshServiceConfig Service(string host, string address) => new()
    {
        Hostname = host,
        Ports = { new ServicePortConfig { Number = 5000, Endpoints = { new LbEndpoint { Address = address, Port = 5000, Weight = 1, Labels = { ["app"] = "x" } } } } },
    };

    private static readonly ProxyConfig Own = new() { MeshId = "proj-1234", TrustBundlePem = "-----BEGIN CERTIFICATE-----\n", PeerAuthenticationMode = "STRICT", AuthorizationPolicies = { new AuthorizationPolicyConfig { Name = "deny", Action = "DENY" } } };

    private static readonly ServicesView View = new(
        [Service("a.sample.svc.cluster.local", "10.0.0.1"), Service("b.sample.svc.cluster.local", "10.0.0.2")],
        [new WithheldEndpoints { Hostname = "a.sample.svc.cluster.local", Network = "network3", Count = 2, Reason = "no gateway" }]);

    private static DiscoveryResponse Parse(EncodedDiscoveryResponse response)
    {
        var context = new CapturingContext();
        EncodedDiscoveryResponse.Marshaller.ContextualSerializer(response, context);
        Assert.Equal(response.Length, context.Written.WrittenCount);
        return DiscoveryResponse.Parser.ParseFrom(context.Written.WrittenSpan);
    }

    [Fact]
    public void ACompleteResponse_IsTheProxysOwnPartWithTheWholeView()
    {
        var parsed = Parse(EncodedDiscoveryResponse.Complete("7", "abc", Google.Protobuf.MessageExtensions.ToByteArray(Own), View));

        var expected = new DiscoveryResponse { VersionInfo = "7", Nonce = "abc", Config = Own.Clone() };
        expected.Config.Services.AddRange(View.Services);
        expected.Config.Withheld.AddRange(View.Withheld);
        Assert.Equal(expected, parsed);
    }

    [Theory]
    [InlineData(ConfigCompression.Gzip)]
    [InlineData(ConfigCompression.Brotli)]
    public void ACompressedCompleteResponse_ExpandsToTheSameConfiguration_InFewerBytes(ConfigCompression compression)
    {
        var own = Google.Protobuf.MessageExtensions.ToByteArray(Own);
        var plain = EncodedDiscoveryResponse.Complete("7", "abc", own, View);
        var compressed = EncodedDiscoveryResponse.Complete("7", "abc", own, View, compression);
        var parsed = Parse(compressed);

        Assert.Empty(parsed.Config.Services);
        Assert.False(parsed.Config.Compressed.IsEmpty);
        Assert.Equal(compression, parsed.Config.Compression);
        Causeway.Core.Client.DiscoveryUpdates.Expand(parsed.Config);
        Assert.Equal(Parse(plain), parsed);
        // Compressed once per view and compression, whichever proxy it is for.
        Assert.Same(View.EncodedCompressed(compression), View.EncodedCompressed(compression));
    }

    [Fact]
    public void AManyServiceView_CompressesToAFractionOfItsSize_BrotliSmallerThanGzip()
    {
        var services = Enumerable.Range(0, 500).Select(i => Service($"svc-{i:D4}.scale.svc.cluster.local", $"10.1.{i / 250}.{i % 250 + 1}")).ToList();
        var view = new ServicesView(services, []);

        var (gzip, brotli) = (view.EncodedCompressed(ConfigCompression.Gzip).Length, view.EncodedCompressed(ConfigCompression.Brotli).Length);
        Assert.True(gzip * 4 < view.EncodedServices.Length, $"{gzip} bytes of gzip for {view.EncodedServices.Length}");
        Assert.True(brotli < gzip, $"{brotli} bytes of Brotli against {gzip} of gzip");
    }

    [Theory]
    // A few services changed: incremental, for every proxy.
    [InlineData(3, null, true)]
    [InlineData(3, ConfigCompression.Brotli, true)]
    // 30% changed: smaller than the whole plain list, but not than the whole list compressed.
    [InlineData(60, null, true)]
    [InlineData(60, ConfigCompression.Gzip, false)]
    [InlineData(60, ConfigCompression.Brotli, false)]
    // Past half: complete, for every proxy.
    [InlineData(120, null, false)]
    public void ADelta_GoesIncrementalOnlyWhenThatIsSmaller(int changed, ConfigCompression? compression, bool incremental)
    {
        var services = Enumerable.Range(0, 200).Select(i => Service($"svc-{i:D4}.scale.svc.cluster.local", $"10.1.{i / 250}.{i % 250 + 1}")).ToList();
        var before = new ServicesView(services, []);
        var after = new ServicesView([.. services.Select((s, i) => i < changed ? Service(s.Hostname, $"10.2.{i / 250}.{i % 250 + 1}") : s)], []);
        var delta = after.ChangesSince(before);

        Assert.Equal(changed, delta.Changed.Count);
        Assert.Equal(incremental, EncodedDiscoveryResponse.IncrementalIsSmaller(delta, after, compression));
        output.WriteLine($"{changed} changed: {delta.EncodedChanged.Length} bytes incremental, {after.EncodedServices.Length} complete, {(compression is { } c ? after.EncodedCompressed(c).Length : 0)} compressed");
    }

    [Theory]
    [InlineData(false, new ConfigCompression[0], null)]
    [InlineData(true, new ConfigCompression[0], ConfigCompression.Gzip)]
    [InlineData(true, new[] { ConfigCompression.Gzip, ConfigCompression.Brotli }, ConfigCompression.Brotli)]
    // Listing compressions without accepting a compressed configuration at all still means plain.
    [InlineData(false, new[] { ConfigCompression.Brotli }, null)]
    public void ANode_IsSentTheBestCompressionItCanExpand(bool accepts, ConfigCompression[] listed, ConfigCompression? expected)
    {
        var node = new ProxyNode { Id = "p", AcceptsCompressedConfig = accepts, AcceptedCompressions = { listed } };

        Assert.Equal(expected, EncodedDiscoveryResponse.CompressionFor(node));
    }

    [Fact]
    public void AnIncrementalResponse_CarriesItsBaseTheChangedServicesTheRemovedOnesAndTheWholeWithheldList()
    {
        var before = new ServicesView([Service("a.sample.svc.cluster.local", "10.0.0.9"), Service("b.sample.svc.cluster.local", "10.0.0.2"), Service("c.sample.svc.cluster.local", "10.0.0.3")], []);
        var delta = View.ChangesSince(before);
        var parsed = Parse(EncodedDiscoveryResponse.Incremental("8", "def", "7", Google.Protobuf.MessageExtensions.ToByteArray(Own), View, delta));

        Assert.Equal("7", parsed.BaseVersion);
        Assert.Equal(["c.sample.svc.cluster.local"], parsed.RemovedServices);
        Assert.Equal(View.Services[0], parsed.Config.Services.Single());
        Assert.Equal(View.Withheld, parsed.Config.Withheld);
        Assert.Equal(Own.AuthorizationPolicies, parsed.Config.AuthorizationPolicies);
        Assert.Same(delta, View.ChangesSince(before));
    }

    /// <summary>What Grpc.AspNetCore hands a marshaller: a buffer to write the message into.</summary>
    private sealed class CapturingContext : SerializationContext
    {
        public ArrayBufferWriter<byte> Written { get; } = new();

        public override void SetPayloadLength(int payloadLength)
        {
        }

        public override IBufferWriter<byte> GetBufferWriter() => Written;

        public override void Complete()
        {
        }
    }
}
