using System.Collections.Concurrent;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// Gives each (endpoint, SNI) its own short host name, <c>u17</c>, so that SocketsHttpHandler keeps one connection pool
/// (HTTP/2 and HTTP/1.1 connections) per endpoint and service: requests are balanced per request across pools, and
/// each pool's TLS handshake carries the right SNI.
/// </summary>
public sealed class UpstreamTargets
{
    private readonly ConcurrentDictionary<UpstreamTarget, string> _names = new();
    private readonly ConcurrentDictionary<string, UpstreamTarget> _targets = new(StringComparer.Ordinal);
    private int _next;

    public string NameOf(UpstreamTarget target) => _names.GetOrAdd(target, t =>
    {
        var name = "u" + Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _targets[name] = t;
        return name;
    });

    public UpstreamTarget? Resolve(string name) => _targets.GetValueOrDefault(name);
}
