using System.Net;

namespace Causeway.LoadBench.Peers;

/// <summary>
/// One system under test as the load generator sees it: where to send requests, and which processes are its
/// proxies (for CPU and memory). "direct" has no proxy: its figures are the baseline that proxied ones are measured against.
/// <paramref name="Authority"/> is the Host its requests name when it is not the scenario's own.
/// </summary>
public sealed record Peer(string Name, IPEndPoint Entry, IReadOnlyList<int> ProxyPids, string? Authority = null)
{
    public bool IsDirect => ProxyPids.Count == 0;
}
