namespace Causeway.LoadBench.Load;

/// <summary>
/// Closed loops of one connection at a time: each loop runs an attempt (open, exchange, close), then the next, until
/// the duration is over (each loop at least once); B5 and B6 count what succeeded.
/// </summary>
public static class ConnectionLoops
{
    /// <summary>
    /// Runs <paramref name="attempt"/> on <paramref name="concurrency"/> loops, each with its own buffer of
    /// <paramref name="bufferBytes"/>; an attempt that returns false, or throws what <paramref name="isFailure"/>
    /// accepts, is an error and <paramref name="failed"/> hears why.
    /// </summary>
    public static async Task<(long Completed, long Errors)> RunAsync(int concurrency, TimeSpan duration, int bufferBytes, Func<byte[], Task<bool>> attempt, Func<Exception, bool> isFailure, Action<string> failed)
    {
        long completed = 0, errors = 0;
        var end = DateTime.UtcNow + duration;
        var loops = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            loops[i] = Task.Run(async () =>
            {
                var buffer = new byte[bufferBytes];
                do
                {
                    try
                    {
                        if (await attempt(buffer))
                        {
                            Interlocked.Increment(ref completed);
                            continue;
                        }

                        failed("the answer was not the expected one");
                    }
                    catch (Exception e) when (isFailure(e))
                    {
                        failed(e.GetBaseException().Message);
                    }

                    Interlocked.Increment(ref errors);
                }
                while (DateTime.UtcNow < end);
            });
        }

        await Task.WhenAll(loops);
        return (completed, errors);
    }
}
