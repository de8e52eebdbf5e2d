using Causeway.ControlPlane.Registry;
using Causeway.Core.Resources;

namespace Causeway.ControlPlane.Tests.Registry;

/// <summary>What a remote cluster's change log gives a build from an earlier state: the keys since, or nothing it could trust.</summary>
public class ChangeLogTests
{
    private static ResourceKey Key(int i) => new("WorkloadEntry", "sample", "w" + i);

    [Fact]
    public void TheKeysSinceAnEarlierLog_InOrder_WithinTheLimit()
    {
        var start = ChangeLog.Start();
        var two = start.Append(Key(1)).Append(Key(2));
        var four = two.Append(Key(3)).Append(Key(1));

        Assert.True(four.TryGetSince(two, limit: 64, out var keys));
        Assert.Equal([Key(3), Key(1)], keys);
        Assert.True(four.TryGetSince(four, limit: 64, out keys));
        Assert.Empty(keys);
        Assert.True(four.TryGetSince(start, limit: 4, out keys));
        Assert.Equal(4, keys.Count);

        Assert.False(four.TryGetSince(start, limit: 3, out _));
        // A log is never read against one it did not grow from: a later one, or one of another list.
        Assert.False(two.TryGetSince(four, limit: 64, out _));
        Assert.False(four.TryGetSince(ChangeLog.Start(), limit: 64, out _));
    }

    [Fact]
    public void ALogKeepsItsNewestKeys_AndAStateFurtherBehindIsNotServed()
    {
        var start = ChangeLog.Start();
        var log = start;
        for (var i = 0; i < ChangeLog.Capacity + 1; i++)
        {
            log = log.Append(Key(i));
        }

        Assert.Equal(ChangeLog.Capacity + 1, log.End);
        Assert.False(log.TryGetSince(start, limit: int.MaxValue, out _));
        var one = start.Append(Key(0));
        Assert.True(log.TryGetSince(one, limit: int.MaxValue, out var keys));
        Assert.Equal(ChangeLog.Capacity, keys.Count);
        Assert.Equal(Key(ChangeLog.Capacity), keys[^1]);
    }

    [Fact]
    public void NoneSince_HoldsOnlyWhenEveryChangeIsKnown_AndNoneMatches()
    {
        static bool IsPolicy(ResourceKey key) => key.Kind == "AuthorizationPolicy";
        var start = ChangeLog.Start();
        var workloads = start.Append(Key(1)).Append(Key(2));
        var policy = workloads.Append(new ResourceKey("AuthorizationPolicy", "sample", "deny"));

        Assert.True(workloads.NoneSince(start, IsPolicy));
        Assert.False(policy.NoneSince(start, IsPolicy));
        Assert.True(policy.NoneSince(policy, IsPolicy));
        // Nothing to compare with, or a log of another list, says nothing: what was derived must be derived again.
        Assert.False(workloads.NoneSince(null, IsPolicy));
        Assert.False(workloads.NoneSince(ChangeLog.Start(), IsPolicy));
    }
}
