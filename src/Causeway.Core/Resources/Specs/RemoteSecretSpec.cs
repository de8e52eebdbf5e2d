namespace Causeway.Core.Resources.Specs;

/// <summary>
/// What a control plane needs to watch another cluster's registry: the remote's address, the root that signs its
/// serving certificate, and a reader token. Causeway's counterpart of Istio's <c>istio-remote-secret-&lt;cluster&gt;</c>.
/// </summary>
public sealed record RemoteSecretSpec
{
    public string Cluster { get; init; } = "";

    /// <summary>The remote control plane's discovery address, e.g. <c>https://127.0.2.1:15012</c>.</summary>
    public string Address { get; init; } = "";

    public string CaBundle { get; init; } = "";

    public string Token { get; init; } = "";

    internal static IEnumerable<ResourceError> Validate(RemoteSecretSpec spec)
    {
        if (string.IsNullOrEmpty(spec.Cluster))
        {
            yield return new ResourceError("spec.cluster", "is required: the remote cluster's name");
        }

        if (!Uri.TryCreate(spec.Address, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            yield return new ResourceError("spec.address", $"'{spec.Address}' must be an https:// URL of the remote control plane, e.g. https://127.0.2.1:15012");
        }

        if (!spec.CaBundle.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            yield return new ResourceError("spec.caBundle", "must hold the mesh root certificate in PEM");
        }

        if (string.IsNullOrEmpty(spec.Token))
        {
            yield return new ResourceError("spec.token", "is required: a reader token issued by the remote control plane (causeway create-remote-secret makes one)");
        }
    }
}
