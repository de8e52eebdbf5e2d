using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Causeway.Proxy.Http;

/// <summary>
/// The request target as the client sent it, held to RFC 9112's grammar for control characters: Kestrel's parser lets
/// CR and other controls through in the target (found by fuzzing) and the forwarder then percent-encodes them; a mesh
/// proxy refuses such a request, as Envoy does, rather than pass a repaired one on.
/// </summary>
public static class RequestTarget
{
    /// <summary>False when the request's raw target holds a control character.</summary>
    public static bool IsClean(HttpContext context) => IsClean(context.Features.Get<IHttpRequestFeature>()?.RawTarget);

    /// <summary>False when <paramref name="raw"/> holds a control character (0x00-0x20 or 0x7F).</summary>
    public static bool IsClean(ReadOnlySpan<char> raw) => raw.IndexOfAnyInRange('\0', ' ') < 0 && !raw.Contains('\x7f');

    /// <summary>The same check on a target's bytes (an HTTP/2 <c>:path</c>).</summary>
    public static bool IsClean(ReadOnlySpan<byte> raw) => raw.IndexOfAnyInRange((byte)0, (byte)' ') < 0 && !raw.Contains((byte)0x7f);
}
