using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Causeway.ControlPlane.Security;

/// <summary>
/// Issues and checks bearer tokens: <c>cw1.&lt;payload&gt;.&lt;HMAC-SHA256&gt;</c>, keyed by a secret that never leaves the
/// data directory. The role Kubernetes service-account tokens play for istiod: they prove which identity a proxy may claim.
/// </summary>
public sealed class AccessTokens
{
    private const string Prefix = "cw1";
    private readonly byte[] _key;
    private readonly string _cluster;
    private readonly TimeProvider _time;

    public AccessTokens(byte[] key, string cluster, TimeProvider? time = null)
    {
        _key = key;
        _cluster = cluster;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Loads the signing key from <c>token-key</c> in the data directory, creating it (owner-only) on first start.</summary>
    public static AccessTokens LoadOrCreate(string dataDirectory, string cluster)
    {
        var path = Path.Combine(dataDirectory, "token-key");
        if (!File.Exists(path))
        {
            Core.Security.OwnerOnlyFile.CreateNew(path, RandomNumberGenerator.GetBytes(32));
        }

        return new AccessTokens(File.ReadAllBytes(path), cluster);
    }

    public string Issue(string scope, TimeSpan validity, string? ns = null, string? serviceAccount = null)
    {
        var payload = new Payload(scope, _cluster, _time.GetUtcNow().Add(validity).ToUnixTimeSeconds(), ns, serviceAccount);
        var body = Base64Url(JsonSerializer.SerializeToUtf8Bytes(payload));
        return $"{Prefix}.{body}.{Base64Url(HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(body)))}";
    }

    /// <summary>False with the reason when the token is malformed, forged, expired, or for another cluster.</summary>
    public bool TryValidate(string token, out AccessGrant grant, out string error)
    {
        grant = null!;
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[0] != Prefix)
        {
            error = "the token is not a Causeway token";
            return false;
        }

        byte[] mac;
        byte[] body;
        try
        {
            mac = FromBase64Url(parts[2]);
            body = FromBase64Url(parts[1]);
        }
        catch (FormatException)
        {
            error = "the token is not a Causeway token";
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(mac, HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(parts[1]))))
        {
            error = "the token's signature is wrong: it was not issued by this control plane";
            return false;
        }

        var payload = JsonSerializer.Deserialize<Payload>(body)!;
        var expires = DateTimeOffset.FromUnixTimeSeconds(payload.Exp);
        if (payload.Cluster != _cluster)
        {
            error = $"the token is for cluster '{payload.Cluster}', not '{_cluster}'";
            return false;
        }

        if (expires <= _time.GetUtcNow())
        {
            error = $"the token expired at {expires:u}; issue a new one";
            return false;
        }

        grant = new AccessGrant(payload.Scope, payload.Cluster, expires, payload.Ns, payload.Sa);
        error = "";
        return true;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string s)
    {
        var b = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(b.PadRight(b.Length + ((4 - (b.Length % 4)) % 4), '='));
    }

    private sealed record Payload(string Scope, string Cluster, long Exp, string? Ns, string? Sa);
}
