using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Proxy.Tests.Integration;
using Causeway.Testing;
using static Causeway.Testing.Manifests;

namespace Causeway.Proxy.Tests.Security;

/// <summary>The calling side's mesh TLS in a running sidecar, against a destination the test plays itself.</summary>
public sealed class MeshTlsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AServerWhoseRootLeftTheTrustBundleDuringTheHandshake_IsRefusedAfterIt()
    {
        await using var lab = new DataPlaneLab();
        var c1 = await lab.StartClusterAsync("cluster1", "network1");
        var (sleepIp, helloIp) = (LoopbackAddresses.Next(15001, 15006), LoopbackAddresses.Next(5000, 15006));
        await c1.ApplyAsync(Service("helloworld", 5000) + "\n---\n" + Workload("helloworld-v1", "helloworld", helloIp.ToString(), "v1"));
        using var second = CertificateAuthority.CreateRoot("Causeway second root");
        using var secondCa = second.CreateIntermediate("cluster1");
        await using var destination = new DestinationOfAnotherRoot(helloIp, secondCa, new SpiffeId("cluster.local", "sample", "helloworld"));
        var sleep = await lab.StartSidecarAsync(c1, "sleep", "sample", "sleep", sleepIp);
        DataPlaneLab.WriteCaFile(c1, CaDirectory.RootCert, lab.RootPem + "\n" + second.RootPem + "\n");
        await DataPlaneLab.WaitUntilAsync(() => sleep.Config.Current!.Roots.Count == 2 && DataPlaneLab.Endpoints(sleep) == 1, "sleep trusts both roots and sees helloworld");
        using var client = DataPlaneLab.ClientVia(sleepIp);

        // Positive control: while the bundle holds the second root, the destination is trusted and answers.
        Assert.Equal("from the second root", await client.GetStringAsync("http://helloworld.sample:5000/hello"));

        // The next handshake begins with both roots trusted (its context is chosen then); the server's flight waits...
        var held = destination.HoldNextFlight();
        var answer = client.GetAsync("http://helloworld.sample:5000/hello");
        var wire = await held.WaitAsync(Patience);
        await wire.Holding.WaitAsync(Patience);

        // ...until the second root has left the bundle: OpenSSL still verifies the chain against the context's roots.
        DataPlaneLab.WriteCaFile(c1, CaDirectory.RootCert, lab.RootPem + "\n");
        await DataPlaneLab.WaitUntilAsync(() => sleep.Config.Current!.Roots.Count == 1, "sleep trusts the first root only");
        wire.Release();

        using var response = await answer.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, destination.Requests);
    }

    /// <summary>
    /// A mesh destination (port 15006) whose certificate, for the right identity, comes from another root; it answers
    /// each request and closes, and can hold the first flight of its next handshake.
    /// </summary>
    private sealed class DestinationOfAnotherRoot : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly X509Certificate2 _leaf;
        private readonly SslStreamCertificateContext _context;
        private readonly Task _accepting;
        private TaskCompletionSource<HeldWire>? _hold;
        private HeldWire? _held;
        private int _requests;

        public DestinationOfAnotherRoot(IPAddress address, CertificateAuthority issuer, SpiffeId id)
        {
            _leaf = ForgedCertificates.Leaf(issuer, id);
            _context = SslStreamCertificateContext.Create(_leaf, [issuer.Signer], offline: true);
            _listener = new TcpListener(address, 15006);
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Requests => Volatile.Read(ref _requests);

        /// <summary>The next connection's wire, which holds the server's first flight until released.</summary>
        public Task<HeldWire> HoldNextFlight() => (_hold = new TaskCompletionSource<HeldWire>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

        public async ValueTask DisposeAsync()
        {
            _held?.Release();
            _listener.Stop();
            await _accepting;
            _leaf.Dispose();
        }

        private async Task AcceptAsync()
        {
            var connections = new List<Task>();
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync();
                    var hold = Interlocked.Exchange(ref _hold, null);
                    var wire = new HeldWire(new NetworkStream(socket, ownsSocket: true)) { HoldWritesAfter = hold is null ? int.MaxValue : 0 };
                    if (hold is not null)
                    {
                        _held = wire;
                        hold.SetResult(wire);
                    }

                    connections.Add(ServeAsync(wire));
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }

            await Task.WhenAll(connections);
        }

        private async Task ServeAsync(HeldWire wire)
        {
            try
            {
                await using var tls = new SslStream(wire);
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = _context,
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                }).WaitAsync(TimeSpan.FromSeconds(30));
                var head = new StringBuilder();
                var buffer = new byte[4096];
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await tls.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                    if (read == 0)
                    {
                        return;
                    }

                    head.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                Interlocked.Increment(ref _requests);
                await tls.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\nfrom the second root"u8.ToArray());
                await tls.ShutdownAsync();
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or TimeoutException or ObjectDisposedException)
            {
            }
        }
    }
}
