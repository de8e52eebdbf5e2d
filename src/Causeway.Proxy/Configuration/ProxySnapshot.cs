using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Causeway.Api.V1;
using Causeway.Core.Naming;
using Causeway.Core.Security;
using Causeway.Proxy.Dns;
using Causeway.Proxy.LoadBalancing;

namespace Causeway.Proxy.Configuration;

/// <summary>
/// A configuration the proxy accepted, compiled for the hot path: routes by (FQDN, port) in a frozen dictionary,
/// pickers built, roots parsed. Replaced whole on each push; readers take a reference and never lock.
/// </summary>
public sealed class ProxySnapshot
{
    private readonly FrozenDictionary<(string Host, uint Port), ServiceRoute> _routes;
    private readonly FrozenDictionary<(uint Address, uint Port), ServiceRoute> _byAddress;

    private ProxySnapshot(string version, ProxyConfig config, FrozenDictionary<(string, uint), ServiceRoute> routes, FrozenDictionary<(uint, uint), ServiceRoute> byAddress, MeshNameTable names, X509Certificate2Collection roots)
    {
        Version = version;
        Config = config;
        _routes = routes;
        _byAddress = byAddress;
        Names = names;
        Roots = roots;
    }

    /// <summary>The mesh DNS names this proxy answers for, and their virtual addresses.</summary>
    public MeshNameTable Names { get; }

    public string Version { get; }

    /// <summary>The configuration as the control plane sent it, for /config_dump.</summary>
    public ProxyConfig Config { get; }

    public X509Certificate2Collection Roots { get; }

    public IEnumerable<ServiceRoute> Routes => _routes.Values;

    public bool Strict => Config.PeerAuthenticationMode != "PERMISSIVE";

    public ServiceRoute? Find(string fqdn, uint port) => _routes.GetValueOrDefault((fqdn, port));

    /// <summary>The service port whose virtual address a captured connection was headed for.</summary>
    public ServiceRoute? Find(IPEndPoint original) =>
        original.Address.AddressFamily == AddressFamily.InterNetwork ? _byAddress.GetValueOrDefault((MeshNameTable.ToUInt(original.Address), (uint)original.Port)) : null;

    /// <summary>
    /// Compiles a configuration; throws <see cref="InvalidDataException"/> (the proxy NACKs with its message) when it
    /// cannot be used. <paramref name="previous"/> endpoints are reused so their health counters survive.
    /// </summary>
    public static ProxySnapshot Compile(string version, ProxyConfig config, ProxySnapshot? previous)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPem(config.TrustBundlePem);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new InvalidDataException($"the trust bundle cannot be read: {e.Message}");
        }

        if (roots.Count == 0)
        {
            throw new InvalidDataException("the trust bundle holds no root certificate");
        }

        // A service that is the very object the previous configuration held (an incremental push keeps every service
        // it did not change) keeps its compiled routes, so a change costs the proxy what changed; the endpoints of the
        // rest are looked up so that their health counters survive.
        var unchanged = new HashSet<MeshServiceConfig>(ReferenceEqualityComparer.Instance);
        foreach (var s in previous?.Config.Services ?? [])
        {
            unchanged.Add(s);
        }

        Dictionary<(string, uint, bool), UpstreamEndpoint>? known = null;
        var routes = new Dictionary<(string, uint), ServiceRoute>(config.Services.Count);
        var byAddress = new Dictionary<(uint, uint), ServiceRoute>(config.Services.Count);
        // The DNS names only change when a service comes, goes or changes its virtual address; endpoint changes keep the table.
        var namesChanged = previous is null || previous.Config.Services.Count != config.Services.Count;
        foreach (var service in config.Services)
        {
            if (unchanged.Contains(service) && Reuse(service, previous!, routes, byAddress))
            {
                continue;
            }

            known ??= KnownEndpoints(previous);
            IPAddress? vip = null;
            if (service.VirtualAddress.Length > 0 && (!IPAddress.TryParse(service.VirtualAddress, out vip) || vip.AddressFamily != AddressFamily.InterNetwork))
            {
                throw new InvalidDataException($"service {service.Hostname} has virtual address '{service.VirtualAddress}', which is not an IPv4 address");
            }

            // A service new to this proxy, or one whose virtual address moved, changes the names.
            namesChanged = namesChanged || service.Ports.Count == 0 || !previous!._routes.ContainsKey((service.Hostname, service.Ports[0].Number)) ||
                !Equals(previous.Names.Find(service.Hostname, ""), vip);

            if (!ServiceHostname.TrySplit(service.Hostname, out _, out _) && !service.Hostname.Contains('.', StringComparison.Ordinal))
            {
                throw new InvalidDataException($"service host '{service.Hostname}' is not a DNS name");
            }

            foreach (var port in service.Ports)
            {
                var endpoints = new UpstreamEndpoint[port.Endpoints.Count];
                for (var i = 0; i < endpoints.Length; i++)
                {
                    var e = port.Endpoints[i];
                    var plaintext = !e.ViaGateway && SidecarTlsMode.HasNoSidecar(e.Labels);
                    if (!known.TryGetValue((e.Address, e.Port, e.ViaGateway), out var upstream) || upstream.Weight != e.Weight || upstream.Plaintext != plaintext)
                    {
                        upstream = new UpstreamEndpoint(e.Address, e.Port, e.Weight, e.ViaGateway, e.Cluster, e.Network, e.WorkloadName, plaintext);
                        known[(e.Address, e.Port, e.ViaGateway)] = upstream;
                    }

                    endpoints[i] = upstream;
                }

                var route = new ServiceRoute(service.Hostname, service.Namespace, port.Number, port.Protocol,
                    EndpointPicker.Create(service.LoadBalancer, endpoints), port.Identities.ToFrozenSet(StringComparer.Ordinal), service.H2Upgrade);
                routes[(service.Hostname, port.Number)] = route;
                if (vip is not null)
                {
                    byAddress[(MeshNameTable.ToUInt(vip), port.Number)] = route;
                }
            }
        }

        return new ProxySnapshot(version, config, routes.ToFrozenDictionary(), byAddress.ToFrozenDictionary(), namesChanged ? NameTable(config) : previous!.Names, roots);
    }

    /// <summary>Every service's names and short forms, for a configuration whose services compiled.</summary>
    private static MeshNameTable NameTable(ProxyConfig config)
    {
        var names = new Dictionary<string, IPAddress>(StringComparer.OrdinalIgnoreCase);
        foreach (var service in config.Services)
        {
            if (service.VirtualAddress.Length > 0)
            {
                MeshNameTable.AddNames(names, service.Hostname, IPAddress.Parse(service.VirtualAddress));
            }
        }

        return new MeshNameTable(names);
    }

    /// <summary>Takes an unchanged service's routes from the previous snapshot; false if any is missing there.</summary>
    private static bool Reuse(MeshServiceConfig service, ProxySnapshot previous, Dictionary<(string, uint), ServiceRoute> routes, Dictionary<(uint, uint), ServiceRoute> byAddress)
    {
        foreach (var port in service.Ports)
        {
            if (!previous._routes.ContainsKey((service.Hostname, port.Number)))
            {
                return false;
            }
        }

        // It compiled before, so its virtual address is a valid IPv4 address or empty.
        var vip = service.VirtualAddress.Length > 0 ? IPAddress.Parse(service.VirtualAddress) : null;
        foreach (var port in service.Ports)
        {
            var route = previous._routes[(service.Hostname, port.Number)];
            routes[(service.Hostname, port.Number)] = route;
            if (vip is not null)
            {
                byAddress[(MeshNameTable.ToUInt(vip), port.Number)] = route;
            }
        }

        return true;
    }

    private static Dictionary<(string, uint, bool), UpstreamEndpoint> KnownEndpoints(ProxySnapshot? previous)
    {
        var known = new Dictionary<(string, uint, bool), UpstreamEndpoint>();
        if (previous is null)
        {
            return known;
        }

        foreach (var route in previous._routes.Values)
        {
            foreach (var e in route.Picker.Endpoints)
            {
                known.TryAdd((e.Address, e.Port, e.ViaGateway), e);
            }
        }

        return known;
    }

    /// <summary>True when a gateway exposes <paramref name="host"/> on <paramref name="port"/> (a Gateway resource's hosts).</summary>
    public bool Exposes(string host, uint port)
    {
        foreach (var exposed in Config.ExposedHosts)
        {
            if (exposed.Port != port)
            {
                continue;
            }

            foreach (var pattern in exposed.Hosts)
            {
                var bare = pattern.Contains('/', StringComparison.Ordinal) ? pattern[(pattern.IndexOf('/', StringComparison.Ordinal) + 1)..] : pattern;
                if (ServiceHostname.MatchesPattern(host, bare))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
