using System.Text.Json;
using System.Text.Json.Serialization;

namespace Causeway.Cli.Contexts;

/// <summary>
/// The CLI's contexts, like a kubeconfig: each names a control plane (discovery and monitoring addresses), the root
/// that signs its serving certificate, and the admin token. Kept in <c>$CAUSEWAY_CONFIG</c> or <c>~/.causeway/config.json</c>.
/// </summary>
public sealed class CausewayConfig
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public string? CurrentContext { get; set; }

    public List<ContextEntry> Contexts { get; set; } = [];

    public static string DefaultPath =>
        Environment.GetEnvironmentVariable("CAUSEWAY_CONFIG") is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".causeway", "config.json");

    public static CausewayConfig Load(string? path = null)
    {
        path ??= DefaultPath;
        if (!File.Exists(path))
        {
            return new CausewayConfig();
        }

        try
        {
            return JsonSerializer.Deserialize<CausewayConfig>(File.ReadAllText(path), Json) ?? new CausewayConfig();
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"{path} is not a valid Causeway config ({e.Message}); fix or remove it");
        }
    }

    public void Save(string? path = null)
    {
        path ??= DefaultPath;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Adds or replaces a context by name.</summary>
    public void Upsert(ContextEntry entry)
    {
        Contexts.RemoveAll(c => c.Name == entry.Name);
        Contexts.Add(entry);
        CurrentContext ??= entry.Name;
    }

    /// <summary>The named context, or the current one; a clear error when there is none.</summary>
    public ContextEntry Resolve(string? name)
    {
        var wanted = name ?? CurrentContext;
        if (wanted is null)
        {
            throw new InvalidOperationException($"no context is selected and none was given; add one with 'causeway config set-context NAME --data-dir DIR' (config: {DefaultPath})");
        }

        return Contexts.FirstOrDefault(c => c.Name == wanted)
            ?? throw new InvalidOperationException($"context '{wanted}' does not exist; known contexts: {(Contexts.Count == 0 ? "none" : string.Join(", ", Contexts.Select(c => c.Name)))}. See 'causeway config get-contexts'.");
    }
}

/// <summary>One context: how to reach and authenticate to one cluster's control plane.</summary>
public sealed record ContextEntry
{
    public required string Name { get; init; }

    public required string Cluster { get; init; }

    /// <summary>The discovery/registry address, e.g. https://127.0.1.1:15012.</summary>
    public required string Server { get; init; }

    public string? Monitoring { get; init; }

    public required string CaFile { get; init; }

    public required string TokenFile { get; init; }

    /// <summary>The network namespace to connect from (a netns lab cluster's control plane namespace).</summary>
    public string? Netns { get; init; }

    /// <summary>The lab directory when the lab made this cluster.</summary>
    public string? LabDirectory { get; init; }
}
