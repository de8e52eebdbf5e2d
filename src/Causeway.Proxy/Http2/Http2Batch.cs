namespace Causeway.Proxy.Http2;

/// <summary>
/// Collects the connections written to while one thread handles a batch of frames (what one read returned), and
/// starts their writes when the batch ends: the frames for one connection from one read leave in one send, as an
/// event loop's write at the end of its iteration does. Outside a batch a write is queued to the thread pool.
/// </summary>
internal static class Http2Batch
{
    [ThreadStatic]
    private static List<Http2Connection>? t_dirty;

    [ThreadStatic]
    private static int t_depth;

    public static void Enter() => t_depth++;

    public static void Exit()
    {
        if (--t_depth > 0 || t_dirty is not { } dirty)
        {
            return;
        }

        while (dirty.Count > 0)
        {
            var connection = dirty[^1];
            dirty.RemoveAt(dirty.Count - 1);
            connection.Kick();
        }
    }

    public static void Dirty(Http2Connection connection)
    {
        if (t_depth == 0)
        {
            // Not inside a batch, the caller may hold a stream's lock: the write (and the streams it may resume, which
            // take their own locks) runs elsewhere.
            ThreadPool.UnsafeQueueUserWorkItem(static c => c.Kick(), connection, preferLocal: true);
            return;
        }

        var dirty = t_dirty ??= new List<Http2Connection>(4);
        if (!dirty.Contains(connection))
        {
            dirty.Add(connection);
        }
    }
}
