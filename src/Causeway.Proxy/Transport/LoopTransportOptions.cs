namespace Causeway.Proxy.Transport;

/// <summary>Limits and scheduling of the connections <see cref="LoopTransportFactory"/> accepts; the defaults are Kestrel's socket transport's.</summary>
public sealed class LoopTransportOptions
{
    /// <summary>Runs the application's reads on the loop's thread (Kestrel's UnsafePreferInlineScheduling).</summary>
    public bool InlineScheduling { get; init; }

    /// <summary>Bytes received but not yet read by the application before the connection stops reading (Kestrel's MaxRequestBufferSize, 1 MiB).</summary>
    public long MaxReadBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>Bytes written by the application but not yet sent before its flushes wait (Kestrel's MaxResponseBufferSize, 64 KiB).</summary>
    public long MaxWriteBufferBytes { get; init; } = 64 * 1024;

    /// <summary>The listen backlog (Kestrel's default).</summary>
    public int Backlog { get; init; } = 512;
}
