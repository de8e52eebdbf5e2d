namespace Causeway.Proxy.Outbound;

/// <summary>Where a pooled connection goes and what it says in TLS: address, port, SNI and whether it carries HTTP.</summary>
public sealed record UpstreamTarget(string Address, int Port, string Sni, bool Http);
