using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Causeway.Api.V1;
using Causeway.Core.Security;
using Grpc.Core;
using Grpc.Net.Client;

namespace Causeway.Core.Client;

/// <summary>
/// A gRPC channel to a control plane's port 15012 that trusts only the mesh root and sends a bearer token on every
/// call; the typed clients of the three contracts hang off it.
/// </summary>
public sealed class ControlPlaneConnection : IDisposable
{
    /// <summary>The largest message a client reads from a control plane, and the largest a compressed configuration may expand to.</summary>
    public const int MaxMessageBytes = 64 * 1024 * 1024;

    private readonly GrpcChannel _channel;
    private readonly TrustedRoots _roots;

    private ControlPlaneConnection(Uri address, GrpcChannel channel, TrustedRoots roots)
    {
        Address = address;
        _channel = channel;
        _roots = roots;
        Registry = new Registry.RegistryClient(channel);
        Discovery = new Discovery.DiscoveryClient(channel);
        Certificates = new Certificates.CertificatesClient(channel);
    }

    public Uri Address { get; }

    public Registry.RegistryClient Registry { get; }

    public Discovery.DiscoveryClient Discovery { get; }

    public Certificates.CertificatesClient Certificates { get; }

    /// <summary>The channel's invoker, for callers that marshal a contract's messages themselves (the B8 benchmark's clients).</summary>
    public CallInvoker CallInvoker => _channel.CreateCallInvoker();

    /// <summary>
    /// Opens a channel to <paramref name="address"/> (https://host:15012) trusting <paramref name="rootPem"/> only;
    /// with <paramref name="networkNamespace"/>, the connection is made from inside that network namespace.
    /// </summary>
    public static ControlPlaneConnection Create(Uri address, string rootPem, string? token, TimeSpan? connectTimeout = null, string? networkNamespace = null)
    {
        var roots = MeshTrust.LoadBundle(rootPem);
        if (roots.Count == 0)
        {
            throw new ArgumentException("the CA bundle holds no certificate; pass the mesh root in PEM", nameof(rootPem));
        }

        // During a root rotation the bundle may hold an old root past its end; one valid root is enough.
        var problems = roots.Select(r => MeshTrust.ValidityProblem(r, "the mesh root")).ToList();
        if (problems.All(p => p is not null))
        {
            throw new InvalidOperationException(problems[0]);
        }

        var trusted = new TrustedRoots(roots);
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(5),
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(15),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            SslOptions = TlsOptions(roots, trusted),
        };

        if (networkNamespace is not null)
        {
            handler.ConnectCallback = Networking.NetworkNamespace.HttpConnector(networkNamespace);
        }

        var options = new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = MaxMessageBytes,
        };
        if (token is not null)
        {
            options.Credentials = ChannelCredentials.Create(ChannelCredentials.SecureSsl, CallCredentials.FromInterceptor((_, metadata) =>
            {
                metadata.Add("authorization", "Bearer " + token);
                return Task.CompletedTask;
            }));
        }

        return new ControlPlaneConnection(address, GrpcChannel.ForAddress(address, options), trusted);
    }

    /// <summary>
    /// The TLS options of a channel's handshakes with only the mesh roots of <paramref name="rootPem"/>, for a caller that
    /// shakes hands the way a channel does without one (B8 measures the first push's handshakes alone with them).
    /// </summary>
    public static SslClientAuthenticationOptions TlsOptions(string rootPem)
    {
        var roots = MeshTrust.LoadBundle(rootPem);
        return TlsOptions(roots, new TrustedRoots(roots));
    }

    private static SslClientAuthenticationOptions TlsOptions(X509Certificate2Collection roots, TrustedRoots trusted) => new()
    {
        // The handshake builds the server's chain once, against the roots given here; the handler's options are
        // fixed once it has connected, so a chain that ends at a root learnt since (TrustAlso) is built again
        // against the roots of the moment, the only case that pays for a second build.
        CertificateChainPolicy = MeshTrust.Policy(roots),
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            certificate is X509Certificate2 leaf &&
            (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None &&
            (errors == SslPolicyErrors.None && chain is not null
                ? MeshTrust.Accepts(chain, trusted.Current, out string _)
                : MeshTrust.TryValidate(leaf, chain?.ChainPolicy.ExtraStore ?? [], trusted.Current, out string _)),
    };

    /// <summary>
    /// Trusts the roots of a bundle the control plane pushed, besides those given at the start: after a root rotation
    /// a restarted control plane serves a certificate from the new root, which the operator's file may not hold.
    /// </summary>
    public void TrustAlso(X509Certificate2Collection bundle) => _roots.Add(bundle);

    public void Dispose() => _channel.Dispose();

    /// <summary>The given roots plus those learnt since, replaced as a whole so that handshakes read without locks.</summary>
    private sealed class TrustedRoots(X509Certificate2Collection initial)
    {
        private X509Certificate2Collection _current = initial;

        public X509Certificate2Collection Current => Volatile.Read(ref _current);

        public void Add(X509Certificate2Collection bundle)
        {
            var current = Current;
            var added = new X509Certificate2Collection(current);
            foreach (var root in bundle)
            {
                if (!current.Contains(root))
                {
                    added.Add(root);
                }
            }

            if (added.Count != current.Count)
            {
                Volatile.Write(ref _current, added);
            }
        }
    }
}
