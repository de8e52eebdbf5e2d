using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Causeway.Api.V1;
using Causeway.Core.Client;
using Causeway.Core.Identity;
using Causeway.Core.Retry;
using Causeway.Core.Security;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Security;

/// <summary>
/// The workload's certificate: a key made here and never written anywhere, a CSR signed by the control plane, and a
/// renewal before half-life (Istio rotates at 50% of the lifetime). Connections take <see cref="Current"/> at
/// handshake time, so a rotation applies to new connections without a restart.
/// </summary>
public sealed class WorkloadCertificates(ProxyOptions options, ControlPlaneConnection controlPlane, ILogger<WorkloadCertificates> logger) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private WorkloadCertificate? _current;
    private Task _renewal = Task.CompletedTask;

    public SpiffeId Identity { get; } = options.Identity;

    public WorkloadCertificate? Current => Volatile.Read(ref _current);

    /// <summary>Gets the first certificate (retrying until <paramref name="cancellationToken"/>), then renews in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));
        while (true)
        {
            try
            {
                Volatile.Write(ref _current, await SignAsync(cancellationToken));
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("cannot get a workload certificate for {Identity}: {Error}; retrying in {Delay} ms", Identity, e.Message, backoff.NextMilliseconds);
                await backoff.WaitAsync(cancellationToken);
            }
        }

        _renewal = Task.Run(() => RenewLoopAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Replaces the certificate now (tests of rotation, and operators through the admin port).</summary>
    public async Task RotateAsync(CancellationToken cancellationToken) => Volatile.Write(ref _current, await SignAsync(cancellationToken));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _renewal;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RenewLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var current = Current!;
            // Half of the lifetime as received: NotBefore is backdated for clock skew and would renew too early.
            var lifetime = current.NotAfter - current.ReceivedAt;
            var renewAt = current.ReceivedAt + (lifetime / 2) + TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * lifetime.TotalMilliseconds / 100);
            var wait = renewAt - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait < TimeSpan.FromDays(1) ? wait : TimeSpan.FromDays(1), cancellationToken);
                continue;
            }

            try
            {
                await RotateAsync(cancellationToken);
                logger.LogInformation("workload certificate for {Identity} renewed, valid until {NotAfter:u}", Identity, Current!.NotAfter);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("renewing the workload certificate failed: {Error}; the current one stays valid until {NotAfter:u}", e.Message, current.NotAfter);
                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            }
        }
    }

    private async Task<WorkloadCertificate> SignAsync(CancellationToken cancellationToken)
    {
        var requestedAt = DateTimeOffset.UtcNow;
        var (key, csr) = WorkloadCsr.Create(Identity);
        using (key)
        {
            var response = await controlPlane.Certificates.SignAsync(new SignRequest { CsrPem = csr }, deadline: DateTime.UtcNow.AddSeconds(15), cancellationToken: cancellationToken);
            using var leaf = X509Certificate2.CreateFromPem(response.CertChainPem[0]);
            var withKey = leaf.CopyWithPrivateKey(key);
            var intermediates = new X509Certificate2Collection();
            foreach (var pem in response.CertChainPem.Skip(1))
            {
                intermediates.Add(X509Certificate2.CreateFromPem(pem));
            }

            return new WorkloadCertificate(withKey, SslStreamCertificateContext.Create(withKey, intermediates, offline: true), requestedAt, DateTimeOffset.UtcNow);
        }
    }
}

/// <summary>
/// A workload certificate with its key, and the TLS context that sends its chain. <paramref name="RequestedAt"/> is when
/// its key and CSR were made (a renewal's start); <paramref name="ReceivedAt"/> when the signed chain was ready.
/// </summary>
public sealed record WorkloadCertificate(X509Certificate2 Certificate, SslStreamCertificateContext Context, DateTimeOffset RequestedAt, DateTimeOffset ReceivedAt)
{
    public DateTimeOffset NotBefore => Certificate.NotBefore.ToUniversalTime();

    public DateTimeOffset NotAfter => Certificate.NotAfter.ToUniversalTime();
}
