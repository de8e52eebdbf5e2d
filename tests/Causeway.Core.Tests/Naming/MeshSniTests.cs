using Causeway.Core.Naming;

namespace Causeway.Core.Tests.Naming;

public class MeshSniTests
{
    [Fact]
    public void Format_WritesIstiosDnsSrvForm_WithUnderscoreForNoSubset()
    {
        Assert.Equal("outbound_.5000_._.helloworld.sample.svc.cluster.local", MeshSni.Format(5000, null, "helloworld.sample.svc.cluster.local"));
        Assert.Equal("outbound_.5000_.v2_.helloworld.sample.svc.cluster.local", MeshSni.Format(5000, "v2", "helloworld.sample.svc.cluster.local"));
    }

    [Fact]
    public void TryParse_RoundTripsFormat()
    {
        Assert.True(MeshSni.TryParse("outbound_.5000_.v2_.helloworld.sample.svc.cluster.local", out var sni));
        Assert.Equal(new MeshSni(5000, "v2", "helloworld.sample.svc.cluster.local"), sni);
        Assert.True(MeshSni.TryParse("outbound_.80_._.sleep.sample.svc.cluster.local", out sni));
        Assert.Equal("", sni.Subset);
    }

    [Theory]
    [InlineData("")]
    [InlineData("helloworld.sample.svc.cluster.local")]
    [InlineData("inbound_.5000_._.helloworld.sample.svc.cluster.local")]
    [InlineData("outbound_.0_._.a.b")]
    [InlineData("outbound_.65536_._.a.b")]
    [InlineData("outbound_.-1_._.a.b")]
    [InlineData("outbound_.5000_._.")]
    [InlineData("outbound_.5000__.a.b")]
    [InlineData("outbound_.5000_._.a..b")]
    [InlineData("outbound_.5000_._.A.b")]
    [InlineData("outbound_.5000_._.a/b")]
    [InlineData("outbound_.5000_._.a.b.")]
    [InlineData("outbound_.5000_._.a\0b")]
    [InlineData("outbound_.123456_._.a.b")]
    public void TryParse_RefusesAnythingButTheExactForm(string sni) => Assert.False(MeshSni.TryParse(sni, out _));

    [Fact]
    public void TryParse_RefusesNamesLongerThanDnsAllows() =>
        Assert.False(MeshSni.TryParse("outbound_.5000_._." + new string('a', 250) + ".local", out _));
}
