using Causeway.Proxy.LoadBalancing;

namespace Causeway.Proxy.Tests.LoadBalancing;

public class EndpointPickerTests
{
    private static UpstreamEndpoint Endpoint(string address, uint weight = 1) => new(address, 5000, weight, false, "c1", "n1", address);

    [Fact]
    public void RoundRobin_AlternatesStrictlyBetweenEqualWeights()
    {
        var picker = new RoundRobinPicker([Endpoint("a"), Endpoint("b")]);
        var picks = Enumerable.Range(0, 6).Select(_ => picker.Pick()!.Address).ToList();
        Assert.Equal(["a", "b", "a", "b", "a", "b"], picks);
    }

    [Fact]
    public void RoundRobin_FollowsWeightsSmoothly()
    {
        var picker = new RoundRobinPicker([Endpoint("a", 2), Endpoint("b", 1)]);
        var picks = Enumerable.Range(0, 300).Select(_ => picker.Pick()!.Address).ToList();
        Assert.Equal(200, picks.Count(p => p == "a"));
        Assert.DoesNotContain("bb", string.Concat(picks), StringComparison.Ordinal);
    }

    [Fact]
    public void AnEjectedEndpointIsSkipped_UnlessAllAre()
    {
        var a = Endpoint("a");
        var b = Endpoint("b");
        var picker = new RoundRobinPicker([a, b]);
        var now = Environment.TickCount64 * TimeSpan.TicksPerMillisecond;
        for (var i = 0; i < 5; i++)
        {
            a.Failed(5, TimeSpan.FromMinutes(1), now);
        }

        Assert.All(Enumerable.Range(0, 10), _ => Assert.Same(b, picker.Pick()));
        for (var i = 0; i < 5; i++)
        {
            b.Failed(5, TimeSpan.FromMinutes(1), now);
        }

        Assert.NotNull(picker.Pick());
    }

    [Fact]
    public void LeastRequest_PrefersTheLessLoaded()
    {
        var busy = Endpoint("busy");
        var idle = Endpoint("idle");
        for (var i = 0; i < 50; i++)
        {
            busy.RequestStarted();
        }

        var picker = new LeastRequestPicker([busy, idle]);
        var picks = Enumerable.Range(0, 1000).Count(_ => picker.Pick() == idle);
        Assert.True(picks > 700, $"idle picked {picks} of 1000");
    }

    [Fact]
    public void ARetryAvoidsThePreviousEndpoint()
    {
        var a = Endpoint("a");
        var b = Endpoint("b");
        foreach (EndpointPicker picker in new EndpointPicker[] { new RoundRobinPicker([a, b]), new LeastRequestPicker([a, b]), new RandomPicker([a, b]) })
        {
            Assert.All(Enumerable.Range(0, 2000), _ => Assert.Same(b, picker.Pick(exclude: a)));
        }
    }
}
