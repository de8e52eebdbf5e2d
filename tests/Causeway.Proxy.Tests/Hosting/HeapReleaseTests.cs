using Causeway.Proxy.Hosting;

namespace Causeway.Proxy.Tests.Hosting;

/// <summary>When the proxy gives the garbage collector's unused committed memory back, and when it leaves it.</summary>
public sealed class HeapReleaseTests
{
    private sealed class FakeCollector
    {
        public int FullCollections { get; set; }

        public long Slack { get; set; }

        public int Released { get; private set; }

        public void Collect()
        {
            Released++;
            FullCollections++;
            Slack = 0;
        }
    }

    private static (HeapRelease Release, FakeCollector Gc) Start(long slackAllowed = 4 << 20)
    {
        var gc = new FakeCollector();
        return (new HeapRelease(new HeapReleaseOptions { SlackBytes = slackAllowed }, () => gc.FullCollections, () => gc.Slack, gc.Collect), gc);
    }

    [Fact]
    public void AFullCollectionThatLeftMoreThanTheSlack_IsFollowedByOneRelease_AndNotBySecondOne()
    {
        var (release, gc) = Start();
        gc.FullCollections++;
        gc.Slack = 8 << 20;

        Assert.True(release.Check());
        Assert.Equal(1, gc.Released);
        // The release's own full collection is not a reason for another, whatever the slack says afterwards.
        gc.Slack = 8 << 20;
        Assert.False(release.Check());
        Assert.Equal(1, gc.Released);
    }

    [Fact]
    public void SlackWithoutAFullCollectionSinceTheLastCheck_IsLeftAlone()
    {
        var (release, gc) = Start();
        gc.Slack = 64 << 20;

        Assert.False(release.Check());
        Assert.Equal(0, gc.Released);
    }

    [Fact]
    public void AFullCollectionThatLeftLittle_IsLeftAlone_AndTheNextOneIsJudgedAfresh()
    {
        var (release, gc) = Start();
        gc.FullCollections++;
        gc.Slack = 1 << 20;
        Assert.False(release.Check());

        gc.FullCollections++;
        gc.Slack = 6 << 20;
        Assert.True(release.Check());
        Assert.Equal(1, gc.Released);
    }

    [Fact]
    public void OnTheProcesssOwnCollector_ARelease_RunsAnAggressiveCollection_AndIsCounted()
    {
        using var release = new HeapRelease(new HeapReleaseOptions { Interval = Timeout.InfiniteTimeSpan, SlackBytes = -1 });
        var before = HeapRelease.Releases;
        var collections = GC.CollectionCount(GC.MaxGeneration);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);

        Assert.True(release.Check());
        Assert.True(HeapRelease.Releases > before);
        Assert.True(HeapRelease.LastReleaseMicroseconds > 0, "a blocking full collection takes some time");
        Assert.True(GC.CollectionCount(GC.MaxGeneration) >= collections + 2, "the forced collection and the release's own");
    }
}
