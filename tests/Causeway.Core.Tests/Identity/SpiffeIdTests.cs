using Causeway.Core.Identity;

namespace Causeway.Core.Tests.Identity;

public class SpiffeIdTests
{
    [Fact]
    public void Parse_ReadsIstioWorkloadIdentities()
    {
        var id = SpiffeId.Parse("spiffe://cluster.local/ns/sample/sa/sleep");
        Assert.Equal(new SpiffeId("cluster.local", "sample", "sleep"), id);
        Assert.Equal("cluster.local/ns/sample/sa/sleep", id.Principal);
        Assert.Equal("spiffe://cluster.local/ns/sample/sa/sleep", id.ToString());
    }

    [Theory]
    [InlineData("http://cluster.local/ns/sample/sa/sleep", "must start with spiffe://")]
    [InlineData("spiffe://cluster.local", "no trust domain or no path")]
    [InlineData("spiffe://Cluster.Local/ns/a/sa/b", "trust domain")]
    [InlineData("spiffe://cluster.local/ns/a/sa/b/extra", "/ns/<namespace>/sa/<service-account>")]
    [InlineData("spiffe://cluster.local/ns/../sa/b", "DNS labels")]
    [InlineData("spiffe://cluster.local/sa/b/ns/a", "/ns/<namespace>/sa/<service-account>")]
    [InlineData("spiffe://cluster.local/ns/a/sa/b?x=1", "DNS labels")]
    [InlineData("spiffe://user@cluster.local/ns/a/sa/b", "trust domain")]
    [InlineData("spiffe://cluster.local:443/ns/a/sa/b", "trust domain")]
    public void TryParse_RefusesWithTheReason(string uri, string reason)
    {
        Assert.False(SpiffeId.TryParse(uri, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
