namespace Causeway.Proxy.Http;

/// <summary>The one step every head writer repeats: bytes copied in at a position, the count returned to advance it by.</summary>
internal static class HeadBytes
{
    /// <summary>Copies <paramref name="source"/> to the start of <paramref name="destination"/> and returns its length.</summary>
    public static int Put(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        source.CopyTo(destination);
        return source.Length;
    }
}
