using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using Causeway.Api.V1;
using Causeway.Proxy.Configuration;

namespace Causeway.Benchmarks;

/// <summary>
/// What a push costs a sidecar: compiling a configuration of N services (5 endpoints on its network and cluster 2's
/// gateway each), whole, and again after an incremental push changed one service (the rest are the same objects).
/// </summary>
[MemoryDiagnoser]
public class ProxySnapshotBenchmarks
{
    private ProxyConfig _first = null!;
    private ProxyConfig _changed = null!;
    private ProxySnapshot _snapshot = null!;
    private string _host = null!;

    [Params(1000, 5000)]
    public int Services { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Root CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        _first = new ProxyConfig { MeshId = "mesh", TrustDomain = "cluster.local", Network = "network1", TrustBundlePem = root.ExportCertificatePem() };
        for (var s = 0; s < Services; s++)
        {
            _first.Services.Add(Service(s, gatewayWeight: 5));
        }

        _snapshot = ProxySnapshot.Compile("1", _first, null);
        // A host string that is not the one in the configuration, as a request's Host header is not.
        _host = new string($"svc{Services / 3}.sample.svc.cluster.local".AsSpan());

        // As DiscoveryUpdates merges an incremental push: every service but one is the very object accepted before.
        _changed = _first.Clone();
        _changed.Services.Clear();
        _changed.Services.AddRange(_first.Services);
        _changed.Services[Services / 2] = Service(Services / 2, gatewayWeight: 6);
    }

    /// <summary>The per-request lookup of a route by host and port (the hot path's side of the compiled form).</summary>
    [Benchmark]
    public ServiceRoute? FindRoute() => _snapshot.Find(_host, 8080);

    [Benchmark]
    public ProxySnapshot CompileWhole() => ProxySnapshot.Compile("1", _first, null);

    [Benchmark]
    public ProxySnapshot CompileAfterOneChange() => ProxySnapshot.Compile("2", _changed, _snapshot);

    private static MeshServiceConfig Service(int s, uint gatewayWeight)
    {
        var port = new ServicePortConfig { Number = 8080, Name = "http", Protocol = "http", Identities = { $"spiffe://cluster.local/ns/sample/sa/svc{s}" } };
        for (var e = 0; e < 5; e++)
        {
            port.Endpoints.Add(new LbEndpoint
            {
                Address = $"10.{s / 250 % 250}.{s % 250}.{e + 1}", Port = 8080, Weight = 1, Network = "network1", Cluster = "cluster1", Healthy = true,
                WorkloadName = $"svc{s}-{e}", ServiceAccount = $"svc{s}", Labels = { ["app"] = $"svc{s}", ["version"] = "v1" },
            });
        }

        port.Endpoints.Add(new LbEndpoint { Address = "192.0.2.2", Port = 15443, Weight = gatewayWeight, Network = "network2", Cluster = "cluster2", ViaGateway = true, Healthy = true });
        return new MeshServiceConfig
        {
            Hostname = $"svc{s}.sample.svc.cluster.local", Name = $"svc{s}", Namespace = "sample", LoadBalancer = "ROUND_ROBIN",
            VirtualAddress = $"240.240.{s / 250}.{s % 250 + 1}", Ports = { port },
        };
    }
}
