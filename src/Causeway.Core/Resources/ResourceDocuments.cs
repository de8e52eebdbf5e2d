using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Causeway.Core.Yaml;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Causeway.Core.Resources;

/// <summary>
/// Reads and writes resources as YAML (what users write) and JSON (what the store and the wire hold). Reading is strict:
/// an unknown kind, version or field, a wrong type or a value the mesh cannot honour is an error naming the field and,
/// from YAML, its line. Every error of every document is reported, and nothing is returned unless all are valid.
/// </summary>
public static partial class ResourceDocuments
{
    private static readonly HashSet<string> TopLevelFields = ["apiVersion", "kind", "metadata", "spec", "status"];

    /// <summary>Parses a YAML stream of one or more documents; <paramref name="defaultNamespace"/> fills namespaced kinds that name none.</summary>
    public static IReadOnlyList<Resource> ParseYaml(string yaml, string? defaultNamespace = null, string source = "input")
    {
        List<YamlJsonConverter.Document> documents;
        try
        {
            documents = YamlJsonConverter.Read(yaml);
        }
        catch (YamlException e)
        {
            throw new InvalidResourceException(source, [new ResourceError("(yaml)", e.InnerException?.Message ?? StripMark(e.Message), (int)e.Start.Line)]);
        }

        var resources = new List<Resource>();
        var failures = new List<InvalidResourceException>();
        foreach (var doc in documents)
        {
            if (doc.Root is null)
            {
                continue;
            }

            try
            {
                resources.Add(FromNode(doc.Root, defaultNamespace, doc.Lines, $"{source}, document {doc.Index} (line {doc.Line})"));
            }
            catch (InvalidResourceException e)
            {
                failures.Add(e);
            }
        }

        if (failures.Count == 1)
        {
            throw failures[0];
        }

        if (failures.Count > 1)
        {
            throw new InvalidResourceException(source, failures.SelectMany(f => f.Errors.Select(e => e with { Path = $"[{f.Subject}] {e.Path}" })).ToList());
        }

        return resources;
    }

    /// <summary>Parses one JSON document, as stored or sent on the wire.</summary>
    public static Resource ParseJson(string json, string? defaultNamespace = null, string source = "document")
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidResourceException(source, [new ResourceError("(json)", e.Message)]);
        }

        return node is null
            ? throw new InvalidResourceException(source, [new ResourceError("(json)", "the document is empty")])
            : FromNode(node, defaultNamespace, new Dictionary<string, int>(), source);
    }

    /// <summary>The resource as one JSON document.</summary>
    public static string ToJson(Resource resource) => ToNode(resource).ToJsonString();

    /// <summary>Resources as a YAML stream, documents separated by <c>---</c>.</summary>
    public static string ToYaml(IEnumerable<Resource> resources)
    {
        var writer = new StringWriter();
        var emitter = new Emitter(writer);
        emitter.Emit(new StreamStart());
        foreach (var resource in resources)
        {
            emitter.Emit(new DocumentStart(null, null, true));
            JsonYamlWriter.Write(emitter, ToNode(resource));
            emitter.Emit(new DocumentEnd(true));
        }

        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    /// <summary>The resource as a JSON tree: apiVersion, kind, metadata, spec, status.</summary>
    public static JsonObject ToNode(Resource resource)
    {
        var kind = ResourceKinds.Find(resource.Kind) ?? throw new InvalidOperationException($"unknown kind {resource.Kind}");
        var node = new JsonObject
        {
            ["apiVersion"] = resource.ApiVersion,
            ["kind"] = resource.Kind,
            ["metadata"] = JsonSerializer.SerializeToNode(resource.Metadata, ResourceJson.Options),
        };
        if (resource.Spec is not null && kind.SpecType is not null)
        {
            node["spec"] = JsonSerializer.SerializeToNode(resource.Spec, kind.SpecType, ResourceJson.Options);
        }

        if (resource.Status is not null)
        {
            node["status"] = JsonSerializer.SerializeToNode(resource.Status, ResourceJson.Options);
        }

        return node;
    }

    private static Resource FromNode(JsonNode root, string? defaultNamespace, IReadOnlyDictionary<string, int> lines, string source)
    {
        var errors = new List<ResourceError>();
        int? Line(string path) => lines.TryGetValue(path, out var l) ? l : null;
        void Error(string path, string message) => errors.Add(new ResourceError(path, message, Line(path)));

        if (root is not JsonObject obj)
        {
            throw new InvalidResourceException(source, [new ResourceError("(document)", "must be a mapping with apiVersion, kind, metadata and spec", Line(""))]);
        }

        EmptyListItems(obj, "", Error);

        foreach (var (field, _) in obj)
        {
            if (!TopLevelFields.Contains(field))
            {
                Error(field, $"unknown field '{field}'; a resource has apiVersion, kind, metadata, spec and status");
            }
        }

        var kindName = Text(obj, "kind");
        var apiVersion = Text(obj, "apiVersion");
        var kind = kindName is null ? null : ResourceKinds.Find(kindName);
        if (kindName is null)
        {
            Error("kind", "is required");
        }
        else if (kind is null || kind.Name != kindName)
        {
            Error("kind", $"unknown kind '{kindName}'" + (apiVersion is null ? "" : $" ({apiVersion})") + $"; Causeway accepts {ResourceKinds.Names}");
        }
        else if (apiVersion is null)
        {
            Error("apiVersion", $"is required, e.g. {kind.PreferredApiVersion}");
        }
        else if (!kind.Accepts(apiVersion))
        {
            Error("apiVersion", $"'{apiVersion}' is not a version of {kind.Name}; use {kind.PreferredApiVersion}");
        }

        var metadata = Bind<ObjectMeta>(obj["metadata"], "metadata", errors, Line) ?? new ObjectMeta();
        object? spec = null;
        ResourceStatus? status = null;
        if (kind is not null && errors.Count == 0)
        {
            metadata = CheckMetadata(kind, metadata, defaultNamespace, errors, Line);
            if (kind.SpecType is null)
            {
                if (obj["spec"] is not null)
                {
                    Error("spec", $"{kind.Name} has no spec");
                }
            }
            else if (obj["spec"] is null)
            {
                Error("spec", "is required");
            }
            else
            {
                spec = Bind(obj["spec"], kind.SpecType, "spec", errors, Line);
                if (spec is not null)
                {
                    foreach (var e in kind.Validate(spec))
                    {
                        errors.Add(e with { Line = e.Line ?? Line(e.Path) });
                    }
                }
            }

            if (obj["status"] is not null)
            {
                status = Bind<ResourceStatus>(obj["status"], "status", errors, Line);
            }
        }

        var subject = kind is null || string.IsNullOrEmpty(metadata.Name) ? source : $"{source} ({new ResourceKey(kind.Name, metadata.Namespace ?? "", metadata.Name)})";
        if (errors.Count > 0)
        {
            throw new InvalidResourceException(subject, errors);
        }

        return new Resource { ApiVersion = apiVersion!, Kind = kind!.Name, Metadata = metadata, Spec = spec, Status = status };
    }

    private static ObjectMeta CheckMetadata(ResourceKind kind, ObjectMeta metadata, string? defaultNamespace, List<ResourceError> errors, Func<string, int?> line)
    {
        if (string.IsNullOrEmpty(metadata.Name))
        {
            errors.Add(new ResourceError("metadata.name", "is required", line("metadata")));
        }
        else if (!DnsSubdomain().IsMatch(metadata.Name) || metadata.Name.Length > 253)
        {
            errors.Add(new ResourceError("metadata.name", $"'{metadata.Name}' must be lower-case alphanumerics, '-' and '.', starting and ending with an alphanumeric", line("metadata.name")));
        }

        // Kubernetes' label syntax; it also bounds what one resource can make the control plane push to every proxy.
        errors.AddRange(Specs.SpecChecks.Labels(metadata.Labels, "metadata.labels").Select(e => e with { Line = line(e.Path) ?? line("metadata.labels") }));

        if (!kind.Namespaced)
        {
            if (metadata.Namespace is not null)
            {
                errors.Add(new ResourceError("metadata.namespace", $"{kind.Name} is not namespaced; remove the field", line("metadata.namespace")));
            }

            return metadata;
        }

        if (metadata.Namespace is null)
        {
            return metadata with { Namespace = defaultNamespace ?? "default" };
        }

        if (defaultNamespace is not null && metadata.Namespace != defaultNamespace)
        {
            errors.Add(new ResourceError("metadata.namespace",
                $"'{metadata.Namespace}' does not match the namespace '{defaultNamespace}' given on the command line; drop one of them", line("metadata.namespace")));
        }
        else if (!DnsLabel().IsMatch(metadata.Namespace))
        {
            errors.Add(new ResourceError("metadata.namespace", $"'{metadata.Namespace}' is not a valid namespace name (a DNS label)", line("metadata.namespace")));
        }

        return metadata;
    }

    /// <summary>
    /// Every empty item of a list ("- " or "~" in YAML), which no resource field accepts: the deserializer would put
    /// a null in a list its reader does not expect to hold one (found by fuzzing).
    /// </summary>
    private static void EmptyListItems(JsonNode node, string path, Action<string, string> error)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, child) in o)
                {
                    if (child is not null)
                    {
                        EmptyListItems(child, path.Length == 0 ? key : $"{path}.{key}", error);
                    }
                }

                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    if (a[i] is { } item)
                    {
                        EmptyListItems(item, $"{path}[{i}]", error);
                    }
                    else
                    {
                        error($"{path}[{i}]", "is empty; give the item a value or remove it");
                    }
                }

                break;
        }
    }

    private static T? Bind<T>(JsonNode? node, string path, List<ResourceError> errors, Func<string, int?> line) where T : class =>
        (T?)Bind(node, typeof(T), path, errors, line);

    private static object? Bind(JsonNode? node, Type type, string path, List<ResourceError> errors, Func<string, int?> line)
    {
        if (node is null)
        {
            return null;
        }

        try
        {
            return node.Deserialize(type, ResourceJson.Options);
        }
        catch (JsonException e)
        {
            var fieldPath = path + (e.Path ?? "$")[1..].Replace("['", ".", StringComparison.Ordinal).Replace("']", "", StringComparison.Ordinal);
            if (e.Message.Contains("could not be mapped", StringComparison.Ordinal))
            {
                var name = fieldPath[(fieldPath.LastIndexOf('.') + 1)..];
                var parent = fieldPath[..Math.Max(0, fieldPath.LastIndexOf('.'))];
                var known = KnownFields(type, fieldPath[(path.Length + 1)..]);
                errors.Add(new ResourceError(fieldPath, $"unknown field '{name}'; fields accepted under {parent}: {known}", line(fieldPath) ?? line(parent)));
            }
            else if (e.Message.Contains(ResourceJson.EmptyValue, StringComparison.Ordinal))
            {
                errors.Add(new ResourceError(fieldPath, "is empty; give it a value or leave the field out", line(fieldPath)));
            }
            else
            {
                errors.Add(new ResourceError(fieldPath, $"has the wrong type: {Describe(e)}", line(fieldPath)));
            }

            return null;
        }
    }

    private static string Describe(JsonException e)
    {
        var m = ConvertTarget().Match(e.Message);
        if (!m.Success)
        {
            return e.Message;
        }

        return m.Groups[1].Value switch
        {
            var t when t.Contains("Int", StringComparison.Ordinal) => "expected a whole number",
            var t when t.Contains("Boolean", StringComparison.Ordinal) => "expected true or false",
            var t when t.Contains("Dictionary", StringComparison.Ordinal) => "expected a mapping of names to values",
            var t when t.Contains("List", StringComparison.Ordinal) => "expected a list",
            var t when t.Contains("String", StringComparison.Ordinal) => "expected a string",
            _ => "expected a mapping of fields",
        };
    }

    /// <summary>The fields the type at <paramref name="relativePath"/> accepts, walking properties, lists and maps.</summary>
    private static string KnownFields(Type root, string relativePath)
    {
        var segments = relativePath.Split('.');
        var type = root;
        foreach (var raw in segments[..^1])
        {
            var name = raw.Contains('[', StringComparison.Ordinal) ? raw[..raw.IndexOf('[', StringComparison.Ordinal)] : raw;
            var property = type.GetProperties().FirstOrDefault(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name) == name);
            if (property is null)
            {
                // A dictionary key: step into the value type.
                type = ElementType(type) ?? type;
                continue;
            }

            type = property.PropertyType;
            if (raw.Contains('[', StringComparison.Ordinal))
            {
                type = ElementType(type) ?? type;
            }
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        return string.Join(", ", type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)));
    }

    private static Type? ElementType(Type t) =>
        t.IsGenericType ? t.GetGenericArguments()[^1] : null;

    private static string? Text(JsonObject obj, string field) =>
        obj[field] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    private static string StripMark(string message)
    {
        var i = message.IndexOf("): ", StringComparison.Ordinal);
        return i >= 0 ? message[(i + 3)..] : message;
    }

    /// <summary>Serialises bytes of a document for hashing and comparison, independent of field order in the source.</summary>
    public static byte[] Canonical(Resource resource) => Encoding.UTF8.GetBytes(ToJson(resource with { Metadata = resource.Metadata with { ResourceVersion = null, CreationTimestamp = null } }));

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();



    [GeneratedRegex("converted to ([^.]+(\\.[^.]+)*?)\\. ")]
    private static partial Regex ConvertTarget();
}
