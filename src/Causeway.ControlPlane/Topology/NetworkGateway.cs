namespace Causeway.ControlPlane.Topology;

/// <summary>An east-west gateway instance through which other networks reach a network's endpoints.</summary>
public sealed record NetworkGateway(string Network, string Cluster, string Address, uint Port);
