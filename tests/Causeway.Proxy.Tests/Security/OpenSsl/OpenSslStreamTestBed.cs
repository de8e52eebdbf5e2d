using System.Net;
using System.Net.Security;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Security;
using Causeway.Proxy.Transport;
using Causeway.Testing;
using Microsoft.AspNetCore.Connections;

namespace Causeway.Proxy.Tests.Security.OpenSsl;

/// <summary>What the OpenSSL stream tests share: a mesh root and a cluster's intermediate, a loop listener to connect through, and helpers that move bytes.</summary>
public abstract class OpenSslStreamTestBed : IAsyncDisposable
{
    protected const string Sni = "outbound_.9080_._.reviews.default.svc.cluster.local";
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    protected static readonly SpiffeId Server = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews");
    protected static readonly SpiffeId Client = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/sleep");

    protected OpenSslStreamTestBed() => Cluster = Root.CreateIntermediate("cluster1");

    protected LoopConnectionListener Listener { get; } = new(new IPEndPoint(IPAddress.Loopback, 0), new LoopTransportOptions { InlineScheduling = true });

    protected CertificateAuthority Root { get; } = CertificateAuthority.CreateRoot();

    protected CertificateAuthority Cluster { get; }

    public async ValueTask DisposeAsync()
    {
        await Listener.DisposeAsync();
        Cluster.Dispose();
        Root.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>A workload certificate for <paramref name="id"/> from <paramref name="issuer"/>, as a sidecar holds one (with other extended key usages if given).</summary>
    protected static WorkloadCertificate Workload(CertificateAuthority issuer, SpiffeId id, string[]? usages = null)
    {
        var leaf = ForgedCertificates.Leaf(issuer, id, usages: usages);
        return new WorkloadCertificate(leaf, SslStreamCertificateContext.Create(leaf, [issuer.Signer], offline: true), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
    }

    /// <summary>The server side of a new connection to the listener.</summary>
    protected async Task<ConnectionContext> AcceptAsync() => (await Listener.AcceptAsync().AsTask().WaitAsync(Patience))!;

    protected static async Task WriteInChunksAsync(Stream stream, byte[] data)
    {
        for (var at = 0; at < data.Length; at += 20_000)
        {
            await stream.WriteAsync(data.AsMemory(at, Math.Min(20_000, data.Length - at)));
            await stream.FlushAsync();
        }
    }

    protected static async Task<byte[]> ReadExactlyAsync(Stream stream, int length)
    {
        var data = new byte[length];
        await stream.ReadExactlyAsync(data);
        return data;
    }
}
