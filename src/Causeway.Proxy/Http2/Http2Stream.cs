namespace Causeway.Proxy.Http2;

/// <summary>
/// A stream that an <see cref="Http2Connection"/> carries: what the connection tells it of its send window, of room to
/// write again, and of errors found on it. Every call may come from any connection's read or write loop.
/// </summary>
public abstract class Http2Stream
{
    /// <summary>A window update came for this stream on <paramref name="connection"/>; false if it overflowed the window.</summary>
    internal abstract bool AdjustSendWindow(Http2Connection connection, int delta);

    /// <summary>A stream error found on <paramref name="connection"/>'s side: reset there, and the other side told.</summary>
    internal abstract void ResetFrom(Http2Connection connection, Http2ErrorCode code);

    /// <summary>The connection's window or socket has room again.</summary>
    internal abstract void Resume(Http2Connection connection);

    /// <summary>The stream's windows and state, for diagnosis.</summary>
    internal abstract string Describe();
}
