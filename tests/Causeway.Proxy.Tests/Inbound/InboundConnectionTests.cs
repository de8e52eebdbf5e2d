using System.Diagnostics;
using Causeway.Proxy.Inbound;

namespace Causeway.Proxy.Tests.Inbound;

public class InboundConnectionTests
{
    [Fact]
    public async Task ProcessingThatNeverEnds_IsAbandonedTheGraceAfterTheTransportClosed()
    {
        using var closed = new CancellationTokenSource();
        var never = new TaskCompletionSource();
        var waiting = InboundConnection.AbandonedAfterCloseAsync(never.Task, TimeSpan.FromMilliseconds(300), closed.Token);
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted, "it stopped waiting while the connection was open");

        var started = Stopwatch.GetTimestamp();
        closed.Cancel();
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(250), "it did not wait out the grace");
    }

    [Fact]
    public async Task ProcessingThatEndsWithinTheGrace_IsWaitedFor_AndItsFaultPassesThrough()
    {
        using var closed = new CancellationTokenSource();
        var ending = new TaskCompletionSource();
        var waiting = InboundConnection.AbandonedAfterCloseAsync(ending.Task, TimeSpan.FromSeconds(30), closed.Token);
        closed.Cancel();
        await Task.Delay(100);
        ending.SetException(new InvalidOperationException("the connection failed"));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("the connection failed", error.Message);
    }

    [Fact]
    public async Task ProcessingThatEndsBeforeTheClose_IsNotAbandoned()
    {
        using var closed = new CancellationTokenSource();
        var ending = new TaskCompletionSource();
        var waiting = InboundConnection.AbandonedAfterCloseAsync(ending.Task, TimeSpan.FromMilliseconds(1), closed.Token);
        ending.SetResult();
        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(await InboundConnection.AbandonedAfterCloseAsync(Task.CompletedTask, TimeSpan.Zero, closed.Token));
    }
}
