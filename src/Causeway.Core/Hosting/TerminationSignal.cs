using System.Runtime.InteropServices;

namespace Causeway.Core.Hosting;

/// <summary>
/// What stops a long-running command (control plane, proxy, sample): SIGTERM, as the lab and Kubernetes send it, or
/// the command's own cancellation (Ctrl+C). SIGTERM is handled, so the process shuts down cleanly instead of dying.
/// </summary>
public sealed class TerminationSignal : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly PosixSignalRegistration _sigterm;

    public TerminationSignal(CancellationToken cancellationToken)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            _stop.Cancel();
        });
    }

    public CancellationToken Token => _stop.Token;

    public void Dispose()
    {
        _sigterm.Dispose();
        _stop.Dispose();
    }
}
