using Causeway.Core.Resources.Specs;

namespace Causeway.Core.Resources;

/// <summary>Every kind Causeway accepts, in Istio's groups and versions; anything else is refused by name.</summary>
public static class ResourceKinds
{
    public static readonly ResourceKind Gateway = Networking("Gateway", typeof(GatewaySpec), s => GatewaySpec.Validate((GatewaySpec)s));
    public static readonly ResourceKind ServiceEntry = Networking("ServiceEntry", typeof(ServiceEntrySpec), s => ServiceEntrySpec.Validate((ServiceEntrySpec)s));
    public static readonly ResourceKind WorkloadEntry = Networking("WorkloadEntry", typeof(WorkloadEntrySpec), s => WorkloadEntrySpec.Validate((WorkloadEntrySpec)s));
    public static readonly ResourceKind DestinationRule = Networking("DestinationRule", typeof(DestinationRuleSpec), s => DestinationRuleSpec.Validate((DestinationRuleSpec)s));
    public static readonly ResourceKind PeerAuthentication = Security("PeerAuthentication", typeof(PeerAuthenticationSpec), s => PeerAuthenticationSpec.Validate((PeerAuthenticationSpec)s));
    public static readonly ResourceKind AuthorizationPolicy = Security("AuthorizationPolicy", typeof(AuthorizationPolicySpec), s => AuthorizationPolicySpec.Validate((AuthorizationPolicySpec)s));

    public static readonly ResourceKind Namespace = new()
    {
        Name = "Namespace",
        Group = "",
        Versions = ["v1"],
        Namespaced = false,
    };

    public static readonly ResourceKind RemoteSecret = new()
    {
        Name = "RemoteSecret",
        Group = "causeway.io",
        Versions = ["v1alpha1"],
        SpecType = typeof(RemoteSecretSpec),
        Secret = true,
        Validate = s => RemoteSecretSpec.Validate((RemoteSecretSpec)s),
    };

    public static readonly IReadOnlyList<ResourceKind> All =
        [Namespace, Gateway, ServiceEntry, WorkloadEntry, DestinationRule, PeerAuthentication, AuthorizationPolicy, RemoteSecret];

    /// <summary>Finds a kind by name, case-insensitively, also by plural and short names as kubectl accepts them.</summary>
    public static ResourceKind? Find(string name)
    {
        foreach (var kind in All)
        {
            if (kind.Name.Equals(name, StringComparison.OrdinalIgnoreCase) ||
                Plural(kind).Equals(name, StringComparison.OrdinalIgnoreCase) ||
                Short(kind).Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return kind;
            }
        }

        return null;
    }

    /// <summary>The names a user may write, for error messages.</summary>
    public static string Names => string.Join(", ", All.Select(k => k.Name));

    /// <summary>The plural as Kubernetes spells it: workloadentries, authorizationpolicies, gateways.</summary>
    private static string Plural(ResourceKind kind) =>
        kind.Name.EndsWith('y') && !"aeiou".Contains(kind.Name[^2], StringComparison.Ordinal) ? kind.Name[..^1] + "ies" : kind.Name + "s";

    private static string Short(ResourceKind kind) => kind.Name switch
    {
        "Namespace" => "ns",
        "Gateway" => "gw",
        "ServiceEntry" => "se",
        "WorkloadEntry" => "we",
        "DestinationRule" => "dr",
        "PeerAuthentication" => "pa",
        "AuthorizationPolicy" => "ap",
        _ => kind.Name,
    };

    private static ResourceKind Networking(string name, Type spec, Func<object, IEnumerable<ResourceError>> validate) => new()
    {
        Name = name,
        Group = "networking.istio.io",
        Versions = ["v1beta1", "v1alpha3", "v1"],
        SpecType = spec,
        Validate = validate,
    };

    private static ResourceKind Security(string name, Type spec, Func<object, IEnumerable<ResourceError>> validate) => new()
    {
        Name = name,
        Group = "security.istio.io",
        Versions = ["v1beta1", "v1"],
        SpecType = spec,
        Validate = validate,
    };
}
