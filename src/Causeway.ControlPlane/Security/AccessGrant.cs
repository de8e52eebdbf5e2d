namespace Causeway.ControlPlane.Security;

/// <summary>What a token lets its bearer do: administer the cluster, read its registry, or act as one workload identity.</summary>
public sealed record AccessGrant(string Scope, string Cluster, DateTimeOffset Expires, string? Namespace = null, string? ServiceAccount = null)
{
    public const string Admin = "admin";
    public const string Reader = "reader";
    public const string Workload = "workload";

    public override string ToString() => Scope == Workload ? $"workload {Namespace}/{ServiceAccount}" : Scope;
}
