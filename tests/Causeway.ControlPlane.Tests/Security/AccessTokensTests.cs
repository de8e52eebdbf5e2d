using Causeway.ControlPlane.Security;
using Microsoft.Extensions.Time.Testing;

namespace Causeway.ControlPlane.Tests.Security;

public class AccessTokensTests
{
    private static readonly byte[] Key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public void AWorkloadTokenGrantsExactlyItsIdentity()
    {
        var tokens = new AccessTokens(Key, "cluster1");
        Assert.True(tokens.TryValidate(tokens.Issue(AccessGrant.Workload, TimeSpan.FromHours(1), "sample", "sleep"), out var grant, out _));
        Assert.Equal((AccessGrant.Workload, "sample", "sleep", "cluster1"), (grant.Scope, grant.Namespace, grant.ServiceAccount, grant.Cluster));
    }

    [Fact]
    public void ForgedExpiredAndForeignTokensAreRefusedWithTheReason()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tokens = new AccessTokens(Key, "cluster1", time);
        var token = tokens.Issue(AccessGrant.Admin, TimeSpan.FromMinutes(5));

        var parts = token.Split('.');
        var forged = parts[0] + "." + (parts[1][0] == 'e' ? 'f' : 'e') + parts[1][1..] + "." + parts[2];
        Assert.False(tokens.TryValidate(forged, out _, out var error));
        Assert.Contains("signature", error, StringComparison.Ordinal);

        Assert.False(new AccessTokens(Key, "cluster2").TryValidate(token, out _, out error));
        Assert.Contains("for cluster 'cluster1'", error, StringComparison.Ordinal);

        Assert.False(new AccessTokens([.. Key.Reverse()], "cluster1").TryValidate(token, out _, out _));
        Assert.False(tokens.TryValidate("not-a-token", out _, out _));
        Assert.False(tokens.TryValidate("cw1.%%%.%%%", out _, out _));

        time.Advance(TimeSpan.FromMinutes(6));
        Assert.False(tokens.TryValidate(token, out _, out error));
        Assert.Contains("expired", error, StringComparison.Ordinal);
    }
}
