namespace Causeway.ControlPlane.Certificates;

/// <summary>The mesh root certificate in PEM: what every proxy's trust bundle and every remote secret carries.</summary>
public sealed record MeshRoot(string Pem);
