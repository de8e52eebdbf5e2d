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

    /// <summary>
    /// What the proxy was sent last on this stream, which the next response may be incremental against; null before
    /// the first response and after a NACK, when the next response must be complete.
    /// </summary>
    public SentConfiguration? Baseline
    {
        get => Volatile.Read(ref _baseline);
        set => Volatile.Write(ref _baseline, value);
    }

    private SentConfiguration? _baseline;

    /// <summary>True when the last response sent was incremental (a NACK of it asks for a complete one at once).</summary>
    public bool LastSentIncremental { get; set; }

    public ChannelReader<MeshTopology> Pending => _pending.Reader;

    public void Offer(MeshTopology topology) => _pending.Writer.TryWrite(topology);

    /// <summary>synced when the newest configuration sent was acknowledged; stale when a NACK or an older ACK stands.</summary>
    public string Status => LastSentVersion.Length == 0 ? "not sent"
        : LastNack is not null ? "nacked"
        : LastAckedVersion == LastSentVersion ? "synced"
        : LastAckedVersion.Length == 0 ? "not acked" : "stale";
}

/// <summary>A configuration as it was sent to one proxy: its version, the shared view and the proxy's own part, encoded.</summary>
public sealed record SentConfiguration(string Version, ServicesView View, byte[] Own);
