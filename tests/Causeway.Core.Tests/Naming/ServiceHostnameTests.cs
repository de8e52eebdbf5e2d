using Causeway.Core.Naming;

namespace Causeway.Core.Tests.Naming;

public class ServiceHostnameTests
{
    [Theory]
    [InlineData("helloworld", "sample", "helloworld.sample.svc.cluster.local")]
    [InlineData("helloworld.sample", "other", "helloworld.sample.svc.cluster.local")]
    [InlineData("helloworld.sample.svc", "other", "helloworld.sample.svc.cluster.local")]
    [InlineData("helloworld.sample.svc.cluster.local", "other", "helloworld.sample.svc.cluster.local")]
    [InlineData("HelloWorld.Sample.svc.cluster.local.", "other", "helloworld.sample.svc.cluster.local")]
    public void ToFqdn_ExpandsEveryShortFormAClientMayWrite(string host, string clientNamespace, string expected) =>
        Assert.Equal(expected, ServiceHostname.ToFqdn(host, clientNamespace));

    [Theory]
    [InlineData("www.example.com")]
    [InlineData("a.b.c.d")]
    [InlineData("")]
    [InlineData("helloworld..svc")]
    [InlineData("x.y.svc.cluster.local.extra")]
    public void ToFqdn_ReturnsNullForNamesOutsideTheMesh(string host) =>
        Assert.Null(ServiceHostname.ToFqdn(host, "sample"));

    [Theory]
    [InlineData("helloworld.sample.svc.cluster.local", "*.local", true)]
    [InlineData("helloworld.sample.svc.cluster.local", "*", true)]
    [InlineData("helloworld.sample.svc.cluster.local", "*.example.com", false)]
    [InlineData("local", "*.local", false)]
    [InlineData("helloworld.sample.svc.cluster.local", "helloworld.sample.svc.cluster.local", true)]
    public void MatchesPattern_FollowsIstioHostWildcards(string host, string pattern, bool expected) =>
        Assert.Equal(expected, ServiceHostname.MatchesPattern(host, pattern));
}
