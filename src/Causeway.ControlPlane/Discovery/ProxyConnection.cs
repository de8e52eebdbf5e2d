using System.Threading.Channels;
using Causeway.Api.V1;
using Causeway.ControlPlane.Topology;

namespace Causeway.ControlPlane.Discovery;

/// <summary>One connected proxy: who it is, what it was last sent and what it last acknowledged, and its pending push.</summary>
public sealed class ProxyConnection(ProxyNode node, DateTimeOffset connectedAt)
{
    // Only the newest topology matters, so a slow proxy never queues more than one.
    private readonly Channel<MeshTopology> _pending = Channel.CreateBounded<MeshTopology>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    public ProxyNode Node { get; } = node;

    public DateTimeOffset ConnectedAt { get; } = connectedAt;

    public string LastSentVersion { get; set; } = "";

    public string LastSentNonce { get; set; } = "";

    public DateTimeOffset? LastSentAt { get; set; }

    public string LastAckedVersion { get; set; } = "";

    public DateTimeOffset? LastAckedAt { get; set; }

    /// <summary>The last NACK's error, cleared by the next ACK.</summary>
    public string? LastNack { get; set; }

    /// <summary>A hash of the last configuration sent, so unchanged configurations are not re-sent.</summary>
    public byte[] LastSentHash { get; set; } = [];

    public ChannelReader<MeshTopology> Pending => _pending.Reader;

    public void Offer(MeshTopology topology) => _pending.Writer.TryWrite(topology);

    /// <summary>synced when the newest configuration sent was acknowledged; stale when a NACK or an older ACK stands.</summary>
    public string Status => LastSentVersion.Length == 0 ? "not sent"
        : LastNack is not null ? "nacked"
        : LastAckedVersion == LastSentVersion ? "synced"
        : LastAckedVersion.Length == 0 ? "not acked" : "stale";
}
