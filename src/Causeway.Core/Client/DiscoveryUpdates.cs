using System.IO.Compression;
using Causeway.Api.V1;
using Google.Protobuf;

namespace Causeway.Core.Client;

/// <summary>
/// Turns each discovery response into the complete configuration it stands for, as discovery.proto's stream rules say:
/// a complete response as it is, an incremental one merged into the configuration accepted last, and a compressed part
/// (<c>ProxyConfig.compressed</c>) expanded into the fields it holds. Proxies and test
/// clients keep one of these per stream.
/// </summary>
public sealed class DiscoveryUpdates
{
    /// <summary>The compressions a proxy says it can expand (<c>ProxyNode.accepted_compressions</c>; gzip goes without saying).</summary>
    public static IReadOnlyList<ConfigCompression> Compressions { get; } = [ConfigCompression.Gzip, ConfigCompression.Brotli];

    private ProxyConfig? _accepted;
    private string _acceptedVersion = "";

    /// <summary>The version of the configuration accepted last, or empty.</summary>
    public string AcceptedVersion => _acceptedVersion;

    /// <summary>
    /// The complete configuration <paramref name="response"/> stands for; it throws <see cref="InvalidDataException"/>
    /// (the NACK's reason) when the response is incremental against a version other than the one accepted last.
    /// The response's own configuration is reused, so it must not be used again by the caller.
    /// </summary>
    public ProxyConfig Resolve(DiscoveryResponse response)
    {
        var config = response.Config ?? throw new InvalidDataException("the response carries no configuration");
        Expand(config);
        if (response.BaseVersion.Length == 0)
        {
            return config;
        }

        if (_accepted is null || response.BaseVersion != _acceptedVersion)
        {
            throw new InvalidDataException($"an incremental configuration against version {response.BaseVersion}, but the accepted version is {(_acceptedVersion.Length > 0 ? _acceptedVersion : "none")}; a complete one is needed");
        }

        var services = new Dictionary<string, MeshServiceConfig>(_accepted.Services.Count + config.Services.Count, StringComparer.Ordinal);
        foreach (var s in _accepted.Services)
        {
            services[s.Hostname] = s;
        }

        foreach (var removed in response.RemovedServices)
        {
            services.Remove(removed);
        }

        foreach (var s in config.Services)
        {
            services[s.Hostname] = s;
        }

        // The control plane lists services by host name; a merged configuration keeps that order.
        var merged = new List<MeshServiceConfig>(services.Values);
        merged.Sort(static (a, b) => string.CompareOrdinal(a.Hostname, b.Hostname));
        config.Services.Clear();
        config.Services.AddRange(merged);
        return config;
    }

    /// <summary>
    /// Merges the fields <c>ProxyConfig.compressed</c> holds into <paramref name="config"/>; refuses (as a NACK's reason)
    /// a compression it does not know, data that is not what <c>compression</c> says, expanding past
    /// <see cref="ControlPlaneConnection.MaxMessageBytes"/>, or another compressed part nested inside.
    /// </summary>
    public static void Expand(ProxyConfig config)
    {
        if (config.Compressed.IsEmpty)
        {
            return;
        }

        var compressed = new MemoryStream(config.Compressed.ToByteArray(), writable: false);
        using var decompressing = config.Compression switch
        {
            ConfigCompression.Gzip => new GZipStream(compressed, CompressionMode.Decompress),
            ConfigCompression.Brotli => (Stream)new BrotliStream(compressed, CompressionMode.Decompress),
            var other => throw new InvalidDataException($"the configuration is compressed with {other}, which this proxy cannot expand; it asks only for {string.Join(" or ", Compressions)}"),
        };
        var expanded = new MemoryStream(config.Compressed.Length * 8);
        try
        {
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = decompressing.Read(buffer)) > 0)
            {
                if (expanded.Length + read > ControlPlaneConnection.MaxMessageBytes)
                {
                    throw new InvalidDataException($"the compressed configuration expands past {ControlPlaneConnection.MaxMessageBytes / (1024 * 1024)} MiB");
                }

                expanded.Write(buffer, 0, read);
            }
        }
        catch (InvalidOperationException e)
        {
            // BrotliStream says that data is not Brotli this way; GZipStream throws InvalidDataException itself.
            throw new InvalidDataException($"the compressed configuration is not valid {config.Compression}: {e.Message}", e);
        }

        config.Compressed = ByteString.Empty;
        config.Compression = ConfigCompression.Gzip;
        try
        {
            config.MergeFrom(new ReadOnlySpan<byte>(expanded.GetBuffer(), 0, (int)expanded.Length));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"the compressed configuration is not a ProxyConfig: {e.Message}", e);
        }

        if (!config.Compressed.IsEmpty)
        {
            throw new InvalidDataException("the compressed configuration holds another compressed part");
        }
    }

    /// <summary>Records that <paramref name="config"/> (as <see cref="Resolve"/> returned it) was accepted as <paramref name="version"/>.</summary>
    public void Accepted(string version, ProxyConfig config)
    {
        _accepted = config;
        _acceptedVersion = version;
    }
}
