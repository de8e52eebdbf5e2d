using System.Text.Json;
using System.Text.Json.Serialization;

namespace Causeway.Lab;

/// <summary>What a lab directory holds: its clusters and every process it started, saved in <c>lab.json</c>.</summary>
public sealed class LabState
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public List<LabCluster> Clusters { get; set; } = [];

    public List<LabProcess> Processes { get; set; } = [];

    public static LabState Load(string directory)
    {
        var path = Path.Combine(directory, "lab.json");
        return File.Exists(path) ? JsonSerializer.Deserialize<LabState>(File.ReadAllText(path), Json) ?? new LabState() : new LabState();
    }

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "lab.json");
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(this, Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}

/// <summary>A lab cluster: its network and the loopback block 127.BLOCK.0.0/16 its control plane, gateways and pods live in.</summary>
public sealed record LabCluster
{
    public required string Name { get; init; }

    public required string Network { get; init; }

    public required string MeshId { get; init; }

    public required string Revision { get; init; }

    public required int Block { get; init; }

    public int NextHost { get; set; } = 10;

    public string ControlPlaneAddress => $"127.{Block}.0.1";

    public string Server => $"https://{ControlPlaneAddress}:15012";
}

/// <summary>One background process of the lab, with where it listens and logs.</summary>
public sealed record LabProcess
{
    public required string Cluster { get; init; }

    /// <summary>control-plane, gateway, app or sidecar.</summary>
    public required string Role { get; init; }

    public required string Name { get; init; }

    public string Namespace { get; init; } = "";

    public required string Address { get; init; }

    public required int Pid { get; init; }

    public required string Log { get; init; }
}
