using System.Buffers;
using Causeway.Api.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Causeway.ControlPlane.Discovery;

/// <summary>
/// A <see cref="DiscoveryResponse"/> as it goes on the wire, assembled from parts encoded beforehand: the response's own
/// fields, the proxy's own part of the configuration, and the services part that every proxy of the network shares
/// (encoded once per topology, not once per proxy). Protobuf lets the fields of a message come in any order and a
/// repeated field in several runs, so the concatenation parses as the one message.
/// </summary>
public sealed class EncodedDiscoveryResponse
{
    private readonly byte[] _head;
    private readonly byte[] _own;
    private readonly byte[] _services;
    private readonly byte[] _withheld;

    private EncodedDiscoveryResponse(string version, string nonce, string baseVersion, IReadOnlyList<string> removed, byte[] own, byte[] services, byte[] withheld)
    {
        var head = new DiscoveryResponse { VersionInfo = version, Nonce = nonce, BaseVersion = baseVersion };
        head.RemovedServices.AddRange(removed);
        var configLength = own.Length + services.Length + withheld.Length;
        var headLength = head.CalculateSize();
        _head = new byte[headLength + CodedOutputStream.ComputeTagSize(DiscoveryResponse.ConfigFieldNumber) + CodedOutputStream.ComputeLengthSize(configLength)];
        var output = new CodedOutputStream(_head);
        head.WriteTo(output);
        output.WriteTag(DiscoveryResponse.ConfigFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteLength(configLength);
        output.Flush();
        _own = own;
        _services = services;
        _withheld = withheld;
        Version = version;
        Nonce = nonce;
        IsIncremental = baseVersion.Length > 0;
    }

    /// <summary>Writes the response for gRPC; the server never reads one.</summary>
    public static Marshaller<EncodedDiscoveryResponse> Marshaller { get; } = new(
        static (response, context) => response.WriteTo(context),
        static _ => throw new NotSupportedException("a control plane sends discovery responses; it does not read them"));

    public string Version { get; }

    public string Nonce { get; }

    public bool IsIncremental { get; }

    /// <summary>Bytes on the wire, without gRPC's framing.</summary>
    public int Length => _head.Length + _own.Length + _services.Length + _withheld.Length;

    /// <summary>A complete configuration: the proxy's own part and the whole view, the view compressed with <paramref name="compression"/> when one is given.</summary>
    public static EncodedDiscoveryResponse Complete(string version, string nonce, byte[] own, ServicesView view, ConfigCompression? compression = null) =>
        compression is { } c
            ? new(version, nonce, "", [], own, view.EncodedCompressed(c), [])
            : new(version, nonce, "", [], own, view.EncodedServices, view.EncodedWithheld);

    /// <summary>The best compression a node can expand (Brotli, else gzip), or none for a node that cannot expand one.</summary>
    public static ConfigCompression? CompressionFor(ProxyNode node) =>
        !node.AcceptsCompressedConfig ? null
        : node.AcceptedCompressions.Contains(ConfigCompression.Brotli) ? ConfigCompression.Brotli
        : ConfigCompression.Gzip;

    /// <summary>
    /// Whether <paramref name="delta"/> goes out smaller as an incremental response than the whole view would as a
    /// complete one, compressed with <paramref name="compression"/> if the proxy expands one. A complete plain list is
    /// about as cheap once half of the services changed. A compressed one is a twentieth of the plain size (B8: 0.16 MB
    /// for 3.44 MB), so a delta of a twentieth of the services or more is weighed by size; under that the view is not
    /// compressed only to be compared.
    /// </summary>
    public static bool IncrementalIsSmaller(ServicesDelta delta, ServicesView view, ConfigCompression? compression)
    {
        var changed = delta.Changed.Count;
        if (changed * 2 >= view.Services.Count)
        {
            return false;
        }

        return compression is not { } c || changed * 20 < view.Services.Count || delta.EncodedChanged.Length + view.EncodedWithheld.Length < view.EncodedCompressed(c).Length;
    }

    /// <summary>An incremental configuration against <paramref name="baseVersion"/>: the proxy's own part, the changed services and the whole withheld list.</summary>
    public static EncodedDiscoveryResponse Incremental(string version, string nonce, string baseVersion, byte[] own, ServicesView view, ServicesDelta delta) =>
        new(version, nonce, baseVersion, delta.Removed, own, delta.EncodedChanged, view.EncodedWithheld);

    private void WriteTo(SerializationContext context)
    {
        context.SetPayloadLength(Length);
        var writer = context.GetBufferWriter();
        writer.Write(_head);
        writer.Write(_own);
        writer.Write(_services);
        writer.Write(_withheld);
        context.Complete();
    }
}
