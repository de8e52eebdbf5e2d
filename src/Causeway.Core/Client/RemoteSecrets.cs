using Causeway.Api.V1;
using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;

namespace Causeway.Core.Client;

/// <summary>Makes the remote secret through which one control plane watches another, as <c>istioctl create-remote-secret</c> does.</summary>
public static class RemoteSecrets
{
    /// <summary>The namespace remote secrets live in.</summary>
    public const string Namespace = "istio-system";

    /// <summary>
    /// Asks the control plane behind <paramref name="remote"/> (with an admin token) for its identity and a reader
    /// token, and returns the RemoteSecret to apply to every other cluster.
    /// </summary>
    public static async Task<Resource> CreateAsync(ControlPlaneConnection remote, string rootPem, CancellationToken cancellationToken = default)
    {
        var info = await remote.Registry.ClusterInfoAsync(new ClusterInfoRequest(), cancellationToken: cancellationToken);
        var token = await remote.Registry.IssueTokenAsync(new IssueTokenRequest { Scope = "reader", ValiditySeconds = (long)TimeSpan.FromDays(365).TotalSeconds }, cancellationToken: cancellationToken);
        return new Resource
        {
            ApiVersion = ResourceKinds.RemoteSecret.PreferredApiVersion,
            Kind = ResourceKinds.RemoteSecret.Name,
            Metadata = new ObjectMeta
            {
                Name = "istio-remote-secret-" + info.Cluster,
                Namespace = Namespace,
                Labels = new Dictionary<string, string> { ["istio/multiCluster"] = "true" },
                Annotations = new Dictionary<string, string> { ["networking.istio.io/cluster"] = info.Cluster },
            },
            Spec = new RemoteSecretSpec
            {
                Cluster = info.Cluster,
                Address = remote.Address.ToString().TrimEnd('/'),
                CaBundle = rootPem,
                Token = token.Token,
            },
        };
    }
}
