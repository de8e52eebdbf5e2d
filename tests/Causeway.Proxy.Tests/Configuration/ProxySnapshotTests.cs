using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Api.V1;
using Causeway.Proxy.Configuration;

namespace Causeway.Proxy.Tests.Configuration;

/// <summary>Compiling a configuration after an incremental push: what did not change is reused, what changed is compiled anew.</summary>
public class ProxySnapshotTests
{
    private static readonly string Root = SelfSignedRoot();

    private static string SelfSignedRoot()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Root CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        return root.ExportCertificatePem();
    }

    private static MeshServiceConfig Service(string name, string vip, uint gatewayWeight = 1) => new()
    {
        Hostname = $"{name}.sample.svc.cluster.local", Name = name, Namespace = "sample", LoadBalancer = "ROUND_ROBIN", VirtualAddress = vip,
        Ports =
        {
            new ServicePortConfig
            {
                Number = 5000, Protocol = "http",
                Endpoints =
                {
                    new LbEndpoint { Address = "127.1.0.10", Port = 5000, Weight = 1, Network = "network1", Healthy = true },
                    new LbEndpoint { Address = "127.2.0.30", Port = 15443, Weight = gatewayWeight, Network = "network2", ViaGateway = true, Healthy = true },
                },
            },
        },
    };

    private static ProxyConfig Config(params MeshServiceConfig[] services) => new() { TrustBundlePem = Root, Services = { services } };

    [Fact]
    public void UnchangedServicesKeepTheirRoutes_AChangedOneIsCompiledAnew_AndTheNamesStay()
    {
        var helloworld = Service("helloworld", "240.240.0.1");
        var ratings = Service("ratings", "240.240.0.2");
        var first = ProxySnapshot.Compile("1", Config(helloworld, ratings), null);

        var second = ProxySnapshot.Compile("2", Config(Service("helloworld", "240.240.0.1", gatewayWeight: 2), ratings), first);

        Assert.Same(first.Find("ratings.sample.svc.cluster.local", 5000), second.Find("ratings.sample.svc.cluster.local", 5000));
        var changed = second.Find("helloworld.sample.svc.cluster.local", 5000)!;
        Assert.NotSame(first.Find("helloworld.sample.svc.cluster.local", 5000), changed);
        Assert.Equal(2u, changed.Picker.Endpoints.Single(e => e.ViaGateway).Weight);
        // The direct endpoint is the same object, so its passive-health counters carry over.
        Assert.Same(first.Find("helloworld.sample.svc.cluster.local", 5000)!.Picker.Endpoints.Single(e => !e.ViaGateway), changed.Picker.Endpoints.Single(e => !e.ViaGateway));
        Assert.Same(first.Names, second.Names);
        Assert.Same(changed, second.Find(new IPEndPoint(IPAddress.Parse("240.240.0.1"), 5000)));
    }

    [Fact]
    public void AServiceSwappedForAnotherOrAMovedVirtualAddress_RebuildsTheNames()
    {
        var helloworld = Service("helloworld", "240.240.0.1");
        var first = ProxySnapshot.Compile("1", Config(helloworld, Service("ratings", "240.240.0.2")), null);

        // As many services as before, but ratings (with a virtual address) went and reviews (without one) came.
        var swapped = ProxySnapshot.Compile("2", Config(helloworld, Service("reviews", "")), first);
        Assert.Null(swapped.Names.Find("ratings.sample.svc.cluster.local", "sample"));
        Assert.Null(swapped.Find("ratings.sample.svc.cluster.local", 5000));
        Assert.NotNull(swapped.Find("reviews.sample.svc.cluster.local", 5000));
        Assert.Equal(IPAddress.Parse("240.240.0.1"), swapped.Names.Find("helloworld", "sample"));

        var moved = ProxySnapshot.Compile("3", Config(Service("helloworld", "240.240.0.9"), Service("reviews", "")), swapped);
        Assert.Equal(IPAddress.Parse("240.240.0.9"), moved.Names.Find("helloworld.sample.svc.cluster.local", "sample"));
        Assert.Null(moved.Find(new IPEndPoint(IPAddress.Parse("240.240.0.1"), 5000)));
    }
}
