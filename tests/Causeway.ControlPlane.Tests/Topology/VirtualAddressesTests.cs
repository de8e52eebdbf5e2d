using System.Net;
using Causeway.ControlPlane.Topology;

namespace Causeway.ControlPlane.Tests.Topology;

public sealed class VirtualAddressesTests
{
    [Fact]
    public void Every_host_gets_a_distinct_address_in_the_reserved_range()
    {
        var hosts = Enumerable.Range(0, 5000).Select(i => $"svc{i}.ns.svc.cluster.local").ToList();
        var allocated = VirtualAddresses.Allocate(hosts, new Dictionary<string, string>());

        Assert.Equal(5000, allocated.Values.Distinct().Count());
        Assert.All(allocated.Values, a =>
        {
            var b = IPAddress.Parse(a).GetAddressBytes();
            Assert.Equal([240, 240], b[..2]);
        });
    }

    [Fact]
    public void Same_hosts_get_the_same_addresses_whatever_the_order_so_clusters_agree()
    {
        var hosts = new[] { "a.x.svc.cluster.local", "b.x.svc.cluster.local", "helloworld.sample.svc.cluster.local" };
        var one = VirtualAddresses.Allocate(hosts, new Dictionary<string, string>());
        var two = VirtualAddresses.Allocate(hosts.Reverse(), new Dictionary<string, string>());

        Assert.Equal(one.OrderBy(p => p.Key), two.OrderBy(p => p.Key));
    }

    [Fact]
    public void An_explicit_address_wins_and_is_never_given_to_another_host()
    {
        var first = VirtualAddresses.Allocate(["helloworld.sample.svc.cluster.local"], new Dictionary<string, string>());
        var taken = first["helloworld.sample.svc.cluster.local"];

        var allocated = VirtualAddresses.Allocate(["helloworld.sample.svc.cluster.local", "db.data.svc.cluster.local"], new Dictionary<string, string> { ["db.data.svc.cluster.local"] = taken });

        Assert.Equal(taken, allocated["db.data.svc.cluster.local"]);
        Assert.NotEqual(taken, allocated["helloworld.sample.svc.cluster.local"]);
    }

    [Theory]
    [InlineData(new[] { "10.0.0.0/8", "192.168.7.9" }, "192.168.7.9")]
    [InlineData(new[] { "2001:db8::1" }, null)]
    [InlineData(new string[0], null)]
    public void Explicit_takes_the_first_single_ipv4_address(string[] addresses, string? expected) =>
        Assert.Equal(expected, VirtualAddresses.Explicit(addresses));
}
