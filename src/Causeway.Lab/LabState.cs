using System.Text.Json;
using System.Text.Json.Serialization;

namespace Causeway.Lab;

/// <summary>What a lab directory holds: its clusters and every process it started, saved in <c>lab.json</c>.</summary>
public sealed class LabState
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public List<LabCluster> Clusters { get; set; } = [];

    public List<LabProcess> Processes { get; set; } = [];

    /// <summary>loopback (pods on 127.x addresses, explicit proxy) or netns (pods in network namespaces, transparent capture).</summary>
    public string Isolation { get; set; } = LocalLab.Loopback;

    /// <summary>The prefix of every network namespace of a netns lab, e.g. cw-3fa29c.</summary>
    public string? FabricId { get; set; }

    /// <summary>Every network namespace the lab made, in creation order, so that 'lab down' removes each.</summary>
    public List<string> Namespaces { get; set; } = [];

    public List<LabNetwork> Networks { get; set; } = [];

    public int NextPublicHost { get; set; } = 10;

    public int NextVeth { get; set; }

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

    /// <summary>The control plane's address on its cluster's network (netns lab); the loopback lab derives it from the block.</summary>
    public string? Address { get; init; }

    /// <summary>The control plane's address on the public segment, where other clusters reach it (netns lab).</summary>
    public string? PublicAddress { get; init; }

    /// <summary>The network namespace the control plane runs in (netns lab).</summary>
    public string? Netns { get; init; }

    /// <summary>Where the cluster's own proxies reach the control plane.</summary>
    [JsonIgnore]
    public string ControlPlaneAddress => Address ?? $"127.{Block}.0.1";

    [JsonIgnore]
    public string DiscoveryServer => $"https://{ControlPlaneAddress}:15012";

    /// <summary>Where the CLI and other clusters reach the control plane (what remote secrets name).</summary>
    [JsonIgnore]
    public string Server => $"https://{PublicAddress ?? ControlPlaneAddress}:15012";

    [JsonIgnore]
    public string Monitoring => $"http://{PublicAddress ?? ControlPlaneAddress}:15014";
}

/// <summary>A network of the netns lab: its bridge and subnet 198.18.INDEX.0/24.</summary>
public sealed record LabNetwork
{
    public required string Name { get; init; }

    public required int Index { get; init; }

    public int NextHost { get; set; } = 10;
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

    /// <summary>The network namespace it runs in (netns lab), from which its address is reachable.</summary>
    public string? Netns { get; init; }

    public required int Pid { get; init; }

    public required string Log { get; init; }
}
