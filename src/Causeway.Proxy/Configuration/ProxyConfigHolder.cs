namespace Causeway.Proxy.Configuration;

/// <summary>Holds the current accepted snapshot; swapping it is atomic and readers never lock.</summary>
public sealed class ProxyConfigHolder
{
    private ProxySnapshot? _current;
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ProxySnapshot? Current => Volatile.Read(ref _current);

    /// <summary>Completes when the first configuration has been accepted.</summary>
    public Task FirstAccepted => _first.Task;

    public void Set(ProxySnapshot snapshot)
    {
        Volatile.Write(ref _current, snapshot);
        _first.TrySetResult();
    }
}
