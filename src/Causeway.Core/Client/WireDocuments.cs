using Causeway.Api.V1;
using Causeway.Core.Resources;

namespace Causeway.Core.Client;

/// <summary>Converts resources to and from the registry contract's <see cref="ResourceDocument"/>.</summary>
public static class WireDocuments
{
    public static ResourceDocument ToDocument(Resource resource) => new()
    {
        Kind = resource.Kind,
        Namespace = resource.Metadata.Namespace ?? "",
        Name = resource.Metadata.Name,
        DocumentJson = ResourceDocuments.ToJson(resource),
        ResourceVersion = resource.Metadata.ResourceVersion ?? 0,
    };

    /// <summary>Parses a document strictly; a bad one throws <see cref="InvalidResourceException"/>.</summary>
    public static Resource FromDocument(ResourceDocument document) =>
        ResourceDocuments.ParseJson(document.DocumentJson, null, $"{document.Kind} {document.Namespace}/{document.Name}");
}
