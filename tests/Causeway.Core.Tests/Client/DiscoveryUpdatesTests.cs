using System.IO.Compression;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Google.Protobuf;

namespace Causeway.Core.Tests.Client;

/// <summary>discovery.proto's stream rules as a proxy applies them: complete responses replace, incremental ones merge into the accepted one.</summary>
public class DiscoveryUpdatesTests
{
    private static MeshServiceConfig Service(string host, string address) => new()
    {
        Hostname = host,
        Ports = { new ServicePortConfig { Number = 5000, Endpoints = { new LbEndpoint { Address = address, Port = 5000, Weight = 1 } } } },
    };

    private static DiscoveryResponse Complete(string version, params MeshServiceConfig[] services) =>
        new() { VersionInfo = version, Config = new ProxyConfig { MeshId = "m", Services = { services } } };

    [Fact]
    public void AnIncrementalResponse_ReplacesAddsAndRemovesServices_InHostNameOrder()
    {
        var updates = new DiscoveryUpdates();
        var first = updates.Resolve(Complete("1", Service("a.ns", "10.0.0.1"), Service("b.ns", "10.0.0.2"), Service("c.ns", "10.0.0.3")));
        updates.Accepted("1", first);

        var delta = new DiscoveryResponse
        {
            VersionInfo = "2",
            BaseVersion = "1",
            Config = new ProxyConfig { MeshId = "m2", Services = { Service("d.ns", "10.0.0.4"), Service("a.ns", "10.0.0.9") } },
            RemovedServices = { "b.ns" },
        };
        var merged = updates.Resolve(delta);

        Assert.Equal(["a.ns", "c.ns", "d.ns"], merged.Services.Select(s => s.Hostname));
        Assert.Equal("10.0.0.9", merged.Services[0].Ports[0].Endpoints[0].Address);
        Assert.Equal("m2", merged.MeshId);
        // The accepted configuration is not touched by a merge that may yet be refused.
        Assert.Equal(["a.ns", "b.ns", "c.ns"], first.Services.Select(s => s.Hostname));
        Assert.Equal("10.0.0.1", first.Services[0].Ports[0].Endpoints[0].Address);
    }

    [Fact]
    public void AnIncrementalResponseAgainstAnotherVersion_IsRefusedWithBothVersions()
    {
        var updates = new DiscoveryUpdates();
        var none = Assert.Throws<InvalidDataException>(() => updates.Resolve(new DiscoveryResponse { VersionInfo = "2", BaseVersion = "1", Config = new ProxyConfig() }));
        Assert.Contains("accepted version is none", none.Message, StringComparison.Ordinal);

        updates.Accepted("1", updates.Resolve(Complete("1", Service("a.ns", "10.0.0.1"))));
        var other = Assert.Throws<InvalidDataException>(() => updates.Resolve(new DiscoveryResponse { VersionInfo = "4", BaseVersion = "3", Config = new ProxyConfig() }));
        Assert.Contains("against version 3", other.Message, StringComparison.Ordinal);
        Assert.Contains("accepted version is 1", other.Message, StringComparison.Ordinal);
        Assert.Equal("1", updates.AcceptedVersion);
    }

    [Fact]
    public void AResponseWithoutAConfiguration_IsRefused() =>
        Assert.Throws<InvalidDataException>(() => new DiscoveryUpdates().Resolve(new DiscoveryResponse { VersionInfo = "1" }));

    private static ByteString Compress(ConfigCompression compression, byte[] bytes)
    {
        var output = new MemoryStream();
        using (var stream = compression == ConfigCompression.Brotli
            ? new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true)
            : (Stream)new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            stream.Write(bytes);
        }

        return ByteString.CopyFrom(output.ToArray());
    }

    private static ByteString Gzip(byte[] bytes) => Compress(ConfigCompression.Gzip, bytes);

    [Theory]
    [InlineData(ConfigCompression.Gzip)]
    [InlineData(ConfigCompression.Brotli)]
    public void ACompressedPart_IsMergedIntoTheConfiguration(ConfigCompression compression)
    {
        var shared = new ProxyConfig { Services = { Service("a.ns", "10.0.0.1"), Service("b.ns", "10.0.0.2") } }.ToByteArray();
        var part = Compress(compression, shared);
        var response = new DiscoveryResponse { VersionInfo = "1", Config = new ProxyConfig { MeshId = "m", Compressed = part, Compression = compression } };

        var config = new DiscoveryUpdates().Resolve(response);

        Assert.Equal(["a.ns", "b.ns"], config.Services.Select(s => s.Hostname));
        Assert.Equal("m", config.MeshId);
        Assert.True(config.Compressed.IsEmpty);
        Assert.Equal(ConfigCompression.Gzip, config.Compression);
    }

    public static TheoryData<ConfigCompression, byte[], string> BadCompressedParts => new()
    {
        // Not gzip: GZipStream says so in its own words.
        { ConfigCompression.Gzip, "not gzip at all"u8.ToArray(), "" },
        { ConfigCompression.Gzip, Gzip([0xff, 0xff, 0xff]).ToByteArray(), "is not a ProxyConfig" },
        { ConfigCompression.Gzip, Gzip(new ProxyConfig { Compressed = ByteString.CopyFromUtf8("x") }.ToByteArray()).ToByteArray(), "holds another compressed part" },
        // 65 MiB of zeros: a few KiB of gzip that would expand past the limit.
        { ConfigCompression.Gzip, Gzip(new byte[65 * 1024 * 1024]).ToByteArray(), "expands past 64 MiB" },
        { ConfigCompression.Brotli, Compress(ConfigCompression.Brotli, new byte[65 * 1024 * 1024]).ToByteArray(), "expands past 64 MiB" },
        // gzip labelled as Brotli, and a compression from a newer control plane that this proxy never asked for.
        { ConfigCompression.Brotli, Gzip(new ProxyConfig { MeshId = "x" }.ToByteArray()).ToByteArray(), "is not valid Brotli" },
        { (ConfigCompression)7, Gzip(new ProxyConfig { MeshId = "x" }.ToByteArray()).ToByteArray(), "compressed with 7, which this proxy cannot expand; it asks only for Gzip or Brotli" },
    };

    [Theory]
    [MemberData(nameof(BadCompressedParts))]
    public void ABadCompressedPart_IsRefusedWithWhatIsWrong(ConfigCompression compression, byte[] part, string message)
    {
        var response = new DiscoveryResponse { VersionInfo = "1", Config = new ProxyConfig { MeshId = "m", Compressed = ByteString.CopyFrom(part), Compression = compression } };

        var e = Assert.Throws<InvalidDataException>(() => new DiscoveryUpdates().Resolve(response));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
