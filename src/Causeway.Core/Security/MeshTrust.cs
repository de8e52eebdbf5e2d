using System.Security.Cryptography.X509Certificates;

namespace Causeway.Core.Security;

/// <summary>Validates a certificate chain against the mesh roots only: no system store, no downloads, any chain error is failure.</summary>
public static class MeshTrust
{
    /// <summary>
    /// The chain policy that trusts the mesh roots only: no system store, no downloads, no revocation fetch. TLS
    /// handshakes build a peer's chain with it once, and <see cref="Accepts"/> judges that chain.
    /// </summary>
    public static X509ChainPolicy Policy(X509Certificate2Collection roots)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
            VerificationFlags = X509VerificationFlags.NoFlag,
        };
        policy.CustomTrustStore.AddRange(roots);
        return policy;
    }

    /// <summary>False with every chain problem named when <paramref name="leaf"/> does not chain to one of <paramref name="roots"/>.</summary>
    public static bool TryValidate(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, X509Certificate2Collection roots, out string error, DateTime? at = null)
    {
        using var chain = new X509Chain { ChainPolicy = Policy(roots) };
        foreach (var c in intermediates)
        {
            chain.ChainPolicy.ExtraStore.Add(c);
        }

        if (at is { } time)
        {
            chain.ChainPolicy.VerificationTime = time;
        }

        var built = chain.Build(leaf);
        if (!Accepts(chain, roots, out error))
        {
            return false;
        }

        if (!built)
        {
            error = "the chain does not end at a mesh root";
            return false;
        }

        return true;
    }

    /// <summary>
    /// False with every problem named unless <paramref name="chain"/>, already built (by a TLS handshake with
    /// <see cref="Policy"/>), has no error and ends at one of <paramref name="roots"/>: the roots of the moment, which
    /// may have changed since the handshake began.
    /// </summary>
    public static bool Accepts(X509Chain chain, X509Certificate2Collection roots, out string error)
    {
        // CVE-2024-0057: never trust Build()'s result alone; any status is a failure.
        var problems = chain.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.NoError).Select(s => s.StatusInformation.Trim()).ToList();
        if (problems.Count > 0)
        {
            error = string.Join("; ", problems);
            return false;
        }

        if (chain.ChainElements.Count == 0 || !IsOneOf(roots, chain.ChainElements[^1].Certificate.RawDataMemory.Span))
        {
            error = "the chain does not end at a mesh root";
            return false;
        }

        error = "";
        return true;
    }

    /// <summary>
    /// Null when <paramref name="certificate"/> is valid now, else what is wrong and what to do, naming it as
    /// <paramref name="what"/>: an expired root or intermediate must say so at once, not surface later as a
    /// handshake that never succeeds.
    /// </summary>
    public static string? ValidityProblem(X509Certificate2 certificate, string what, DateTimeOffset? now = null)
    {
        var at = now ?? DateTimeOffset.UtcNow;
        if (at > certificate.NotAfter.ToUniversalTime())
        {
            return $"{what} '{certificate.Subject}' expired at {certificate.NotAfter.ToUniversalTime():u}; no workload certificate can be issued or trusted under it. " +
                "Create a new one ('causeway ca create-root' for a root, 'causeway ca create-intermediate' for a cluster CA) and plug it in as Istio's cacerts.";
        }

        if (at < certificate.NotBefore.ToUniversalTime())
        {
            return $"{what} '{certificate.Subject}' is not valid until {certificate.NotBefore.ToUniversalTime():u}; check this host's clock.";
        }

        return null;
    }

    /// <summary>
    /// True when two trust bundles hold at least one root in common: clusters whose bundles overlap can trust each
    /// other, as they do halfway through a root rotation (old + new in one, new alone in the other).
    /// </summary>
    public static bool ShareARoot(string bundlePem, string otherBundlePem)
    {
        var ours = LoadBundle(bundlePem);
        foreach (var theirs in LoadBundle(otherBundlePem))
        {
            if (IsOneOf(ours, theirs.RawDataMemory.Span))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="der"/> is the encoding of one of <paramref name="roots"/>.</summary>
    public static bool IsOneOf(X509Certificate2Collection roots, ReadOnlySpan<byte> der)
    {
        foreach (var root in roots)
        {
            if (root.RawDataMemory.Span.SequenceEqual(der))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reads every certificate of a PEM bundle.</summary>
    public static X509Certificate2Collection LoadBundle(string pem)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPem(pem);
        return collection;
    }
}
