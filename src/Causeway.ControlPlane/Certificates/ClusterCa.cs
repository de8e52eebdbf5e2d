using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Security;
using Microsoft.Extensions.Logging;

namespace Causeway.ControlPlane.Certificates;

/// <summary>
/// The cluster's signing CA and the mesh trust bundle as one immutable state, read from the cacerts directory and read
/// again whenever its files change, as istiod re-reads plugged-in certificates. That is what makes Istio's three-step
/// root rotation work: a bundle of the old and new roots, then an intermediate from the new root, then the new root
/// alone. A half-written or inconsistent directory is logged and the last good state keeps signing.
/// </summary>
public sealed class ClusterCa : IAsyncDisposable
{
    private readonly string _directory;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private State _current;
    private Task _watching = Task.CompletedTask;

    private ClusterCa(string directory, State state, ILogger logger)
    {
        _directory = directory;
        _current = state;
        _logger = logger;
    }

    /// <summary>One consistent reading of the directory.</summary>
    public sealed record State(CertificateAuthority Authority, X509Certificate2Collection Roots, string TrustBundlePem, byte[] Fingerprint);

    public State Current => Volatile.Read(ref _current);

    /// <summary>Raised after a changed directory was read into a new state (the control plane pushes the new bundle).</summary>
    public event Action? Changed;

    /// <summary>Reads the directory; throws with the reason when it is not a usable CA.</summary>
    public static ClusterCa Load(string directory, ILogger logger) => new(directory, Read(directory), logger);

    /// <summary>Checks the directory every <paramref name="interval"/> and takes in what changed.</summary>
    public void StartWatching(TimeSpan interval) => _watching = Task.Run(() => WatchAsync(interval, _stop.Token));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _watching;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
        Current.Authority.Dispose();
    }

    private async Task WatchAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        string? lastError = null;
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                if (Fingerprint(_directory).AsSpan().SequenceEqual(Current.Fingerprint))
                {
                    continue;
                }

                var next = Read(_directory);

                // The replaced authority is not disposed: a signing may still be using it, and the discovery listener
                // serves the first one's chain for the life of the process.
                Volatile.Write(ref _current, next);
                lastError = null;
                _logger.LogInformation("cluster CA reloaded from {Directory}: signing as {Signer}, trusting {Roots} root(s)", _directory, next.Authority.Signer.Subject, next.Roots.Count);
                Changed?.Invoke();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or CryptographicException or UnauthorizedAccessException)
            {
                // Files are often replaced one by one: a mismatch may be the middle of an update. Say it once per cause.
                if (e.Message != lastError)
                {
                    _logger.LogWarning("the CA in {Directory} changed but cannot be used yet: {Error}; still signing with the previous one", _directory, e.Message);
                    lastError = e.Message;
                }
            }
        }
    }

    private static State Read(string directory)
    {
        var fingerprint = Fingerprint(directory);
        var authority = CaDirectory.LoadIntermediate(directory);
        var roots = CaDirectory.LoadTrustBundle(directory);
        var pem = string.Concat(roots.Cast<X509Certificate2>().Select(r => r.ExportCertificatePem() + "\n"));
        return new State(authority, roots, pem, fingerprint);
    }

    private static byte[] Fingerprint(string directory)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in new[] { CaDirectory.CaCert, CaDirectory.CaKey, CaDirectory.CertChain, CaDirectory.RootCert })
        {
            hash.AppendData(File.ReadAllBytes(Path.Combine(directory, file)));
        }

        return hash.GetHashAndReset();
    }
}
