namespace Causeway.Proxy.Transport;

/// <summary>Limits and scheduling of the connections <see cref="LoopTransportFactory"/> accepts; the defaults are Kestrel's socket transport's.</summary>
public sealed class LoopTransportOptions
{
    /// <summary>Runs the application's reads on the loop's thread (Kestrel's UnsafePreferInlineScheduling).</summary>
    public bool InlineScheduling { get; init; }

    /// <summary>
    /// Bytes received and examined but not consumed by the application before the connection is aborted rather than read
    /// further (Kestrel's MaxRequestBufferSize, 1 MiB). Writes need no limit: a flush waits until the socket has taken
    /// its bytes, so no more than one flush's worth is ever held.
    /// </summary>
    public long MaxReadBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>The listen backlog (Kestrel's default).</summary>
    public int Backlog { get; init; } = 512;
}
