namespace Causeway.Core.Resources.Specs;

/// <summary>Istio's <c>networking.istio.io</c> Gateway: which hosts a gateway proxy exposes on which port.</summary>
public sealed record GatewaySpec
{
    /// <summary>The east-west gateway's port: mTLS passthrough routed by SNI.</summary>
    public const uint EastWestPort = 15443;

    public IReadOnlyDictionary<string, string> Selector { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<GatewayServer> Servers { get; init; } = [];

    internal static IEnumerable<ResourceError> Validate(GatewaySpec spec)
    {
        if (spec.Servers.Count == 0)
        {
            yield return new ResourceError("spec.servers", "at least one server is required");
        }

        for (var i = 0; i < spec.Servers.Count; i++)
        {
            var server = spec.Servers[i];
            var path = $"spec.servers[{i}]";
            if (server.Port is null)
            {
                yield return new ResourceError($"{path}.port", "is required");
                continue;
            }

            foreach (var e in SpecChecks.Port(server.Port.Number, $"{path}.port.number"))
            {
                yield return e;
            }

            foreach (var e in SpecChecks.OneOf(server.Port.Protocol, $"{path}.port.protocol", ["TLS"], required: true,
                         hint: "Causeway gateways carry mesh mTLS passthrough only"))
            {
                yield return e;
            }

            if (server.Tls?.Mode is not { } mode || !mode.Equals("AUTO_PASSTHROUGH", StringComparison.OrdinalIgnoreCase))
            {
                yield return new ResourceError($"{path}.tls.mode",
                    $"'{server.Tls?.Mode}' is not supported; Causeway gateways are east-west gateways and honour AUTO_PASSTHROUGH only");
            }

            if (SpecChecks.ControlPlanePorts.Contains(server.Port.Number))
            {
                yield return new ResourceError($"{path}.port.number",
                    $"port {server.Port.Number} is the control plane's; Causeway never exposes it through a gateway (peers reach control planes through remote secrets)");
            }
            else if (server.Port.Number != EastWestPort)
            {
                yield return new ResourceError($"{path}.port.number", $"AUTO_PASSTHROUGH is served on {EastWestPort} only; use port {EastWestPort}");
            }

            if (server.Hosts.Count == 0)
            {
                yield return new ResourceError($"{path}.hosts", "at least one host is required, e.g. \"*.local\"");
            }

            for (var h = 0; h < server.Hosts.Count; h++)
            {
                var host = server.Hosts[h];
                var bare = host.Contains('/', StringComparison.Ordinal) ? host[(host.IndexOf('/', StringComparison.Ordinal) + 1)..] : host;
                foreach (var e in SpecChecks.Host(bare, $"{path}.hosts[{h}]", allowWildcard: true))
                {
                    yield return e;
                }
            }
        }
    }
}

/// <summary>One server of a Gateway: a port, the hosts it exposes, and its TLS mode.</summary>
public sealed record GatewayServer
{
    public PortSpec? Port { get; init; }

    public IReadOnlyList<string> Hosts { get; init; } = [];

    public GatewayTls? Tls { get; init; }

    public string? Name { get; init; }
}

/// <summary>A Gateway server's TLS settings; Causeway honours <c>mode</c> only, and only AUTO_PASSTHROUGH.</summary>
public sealed record GatewayTls
{
    public string? Mode { get; init; }
}
