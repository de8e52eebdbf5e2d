namespace Causeway.Core.Resources;

/// <summary>What identifies a resource in a registry: kind, namespace (empty for cluster-scoped kinds) and name.</summary>
public readonly record struct ResourceKey(string Kind, string Namespace, string Name)
{
    /// <summary>Reads as kubectl prints it: <c>WorkloadEntry sample/helloworld-v1</c>.</summary>
    public override string ToString() => Namespace.Length == 0 ? $"{Kind} {Name}" : $"{Kind} {Namespace}/{Name}";
}
