namespace Causeway.Proxy.Outbound;

/// <summary>Where a pooled mesh connection goes and what its TLS handshake names: address, port and SNI.</summary>
public sealed record UpstreamTarget(string Address, int Port, string Sni);
