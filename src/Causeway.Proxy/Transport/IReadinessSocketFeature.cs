namespace Causeway.Proxy.Transport;

/// <summary>
/// A connection on an <see cref="EventLoop"/> whose socket a handler may take over, for what moves its bytes without
/// the connection's pipes (the east-west gateway's splice).
/// </summary>
public interface IReadinessSocketFeature
{
    /// <summary>The loop the socket is on, where the connection's upstream belongs too.</summary>
    EventLoop Loop { get; }

    /// <summary>
    /// Stops the connection filling its input and hands over its socket. Bytes already received stay in the input for
    /// the caller; everything after them is the socket's. The connection still closes the socket when it ends.
    /// </summary>
    ValueTask<ReadinessSocket> StopReceivingAsync();
}
