using Causeway.Api.V1;

namespace Causeway.Core.Client;

/// <summary>
/// Turns each discovery response into the complete configuration it stands for, as discovery.proto's stream rules say:
/// a complete response as it is, an incremental one merged into the configuration accepted last. Proxies and test
/// clients keep one of these per stream.
/// </summary>
public sealed class DiscoveryUpdates
{
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

    /// <summary>Records that <paramref name="config"/> (as <see cref="Resolve"/> returned it) was accepted as <paramref name="version"/>.</summary>
    public void Accepted(string version, ProxyConfig config)
    {
        _accepted = config;
        _acceptedVersion = version;
    }
}
