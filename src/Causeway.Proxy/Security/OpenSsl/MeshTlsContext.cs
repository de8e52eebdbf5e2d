using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Causeway.Core.Security;
using Causeway.Proxy.Configuration;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// One OpenSSL context for mesh handshakes of one side: the workload certificate and its chain, the mesh roots as the
/// only trust anchors, the peer's certificate verified, no resumption. Built once per certificate and trust bundle and
/// shared by every handshake until either changes, as HAProxy and nginx do; .NET's SslStream builds a new context for
/// each handshake when resumption is off, and builds the peer's chain twice more in managed code (bench/README, B5).
/// </summary>
public abstract unsafe class MeshTlsContext
{
    // Every protocol either side may agree, so that what a handshake agreed is reported without a per-handshake array.
    private static readonly SslApplicationProtocol[] Known = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11, MeshTls.Istio, MeshTls.IstioH2, MeshTls.IstioHttp11];

    private readonly Handle _ctx;

    /// <summary>
    /// A server context when <paramref name="selectProtocol"/> is given (it picks the ALPN protocol), else a client
    /// context; <paramref name="verify"/>, when given, has the last word on each certificate OpenSSL verified.
    /// </summary>
    private protected MeshTlsContext(
        WorkloadCertificate certificate,
        X509Certificate2Collection roots,
        string trustBundle,
        delegate* unmanaged<nint, byte**, byte*, byte*, uint, nint, int> selectProtocol,
        delegate* unmanaged<int, nint, int> verify = null)
    {
        var server = selectProtocol != null;
        LibSsl.ERR_clear_error();
        var ctx = new Handle(LibSsl.SSL_CTX_new(server ? LibSsl.TLS_server_method() : LibSsl.TLS_client_method()));
        if (ctx.IsInvalid)
        {
            throw new InvalidOperationException(LibSsl.TakeErrors("SSL_CTX_new failed"));
        }

        try
        {
            Configure(ctx.DangerousGetHandle(), certificate, roots);
            // A client's certificate is required of it; a server always presents one.
            LibSsl.SSL_CTX_set_verify(ctx.DangerousGetHandle(), server ? LibSsl.VerifyPeer | LibSsl.VerifyFailIfNoPeerCert : LibSsl.VerifyPeer, (nint)verify);
            if (server)
            {
                LibSsl.SSL_CTX_set_alpn_select_cb(ctx.DangerousGetHandle(), selectProtocol, 0);
            }
        }
        catch
        {
            // A context that failed half-way (a key that does not match, a root OpenSSL refused) is freed now, not by the finalizer.
            ctx.Dispose();
            throw;
        }

        _ctx = ctx;
        Certificate = certificate;
        TrustBundle = trustBundle;
    }

    /// <summary>The workload certificate this context presents.</summary>
    public WorkloadCertificate Certificate { get; }

    /// <summary>The PEM trust bundle whose roots this context trusts.</summary>
    public string TrustBundle { get; }

    /// <summary>
    /// The context in <paramref name="slot"/> when it presents <paramref name="certificate"/> and trusts the bundle of
    /// <paramref name="snapshot"/>, else one made by <paramref name="create"/> and stored there; null until both exist.
    /// </summary>
    internal static T? ForTheMoment<T>(ref T? slot, WorkloadCertificate? certificate, ProxySnapshot? snapshot, Func<WorkloadCertificate, X509Certificate2Collection, string, T> create)
        where T : MeshTlsContext
    {
        if (certificate is null || snapshot is null)
        {
            return null;
        }

        var context = Volatile.Read(ref slot);
        if (context is not null && ReferenceEquals(context.Certificate, certificate) && string.Equals(context.TrustBundle, snapshot.Config.TrustBundlePem, StringComparison.Ordinal))
        {
            return context;
        }

        // Two connections racing here may both build one; the last stored wins and the other is collected.
        context = create(certificate, snapshot.Roots, snapshot.Config.TrustBundlePem);
        Volatile.Write(ref slot, context);
        return context;
    }

    /// <summary>
    /// False when the trust bundle of <paramref name="snapshot"/> replaced this context's while <paramref name="tls"/>
    /// was shaking hands and the root its peer's chain was verified to has left it: the chain must end at a root of the moment.
    /// </summary>
    internal bool StillTrusts(ProxySnapshot snapshot, OpenSslStream tls) =>
        string.Equals(snapshot.Config.TrustBundlePem, TrustBundle, StringComparison.Ordinal) || (tls.VerifiedRoot is { } root && MeshTrust.IsOneOf(snapshot.Roots, root));

    /// <summary>A new connection state of this context (the caller frees it with SSL_free).</summary>
    internal nint NewConnection()
    {
        var added = false;
        _ctx.DangerousAddRef(ref added);
        try
        {
            LibSsl.ERR_clear_error();
            var ssl = LibSsl.SSL_new(_ctx.DangerousGetHandle());
            return ssl != 0 ? ssl : throw new InvalidOperationException(LibSsl.TakeErrors("SSL_new failed"));
        }
        finally
        {
            if (added)
            {
                _ctx.DangerousRelease();
            }
        }
    }

    /// <summary>The agreed protocol's name as the static value of the protocol it is, so a handshake allocates none.</summary>
    internal static ReadOnlyMemory<byte> Agreed(ReadOnlySpan<byte> selected)
    {
        foreach (var protocol in Known)
        {
            if (selected.SequenceEqual(protocol.Protocol.Span))
            {
                return protocol.Protocol;
            }
        }

        return selected.ToArray();
    }

    /// <summary>Protocols in ALPN's wire form: each name after its length byte.</summary>
    private protected static byte[] ProtocolList(SslApplicationProtocol[] protocols, bool pinned = false)
    {
        var length = 0;
        foreach (var protocol in protocols)
        {
            length += 1 + protocol.Protocol.Length;
        }

        var list = GC.AllocateArray<byte>(length, pinned);
        var at = 0;
        foreach (var protocol in protocols)
        {
            list[at++] = (byte)protocol.Protocol.Length;
            protocol.Protocol.Span.CopyTo(list.AsSpan(at));
            at += protocol.Protocol.Length;
        }

        return list;
    }

    private static void Configure(nint raw, WorkloadCertificate certificate, X509Certificate2Collection roots)
    {
        LibSsl.SSL_CTX_ctrl(raw, LibSsl.CtrlSetMinProtoVersion, LibSsl.Tls12Version, 0);
        // Every connection is a full handshake, validated against the roots of the moment: a resumed session presents
        // no certificate to validate, and resuming would skip re-validation after a root is removed (Envoy
        // CVE-2022-21654).
        LibSsl.SSL_CTX_ctrl(raw, LibSsl.CtrlSetSessionCacheMode, LibSsl.SessionCacheOff, 0);
        _ = LibSsl.SSL_CTX_set_num_tickets(raw, 0);
        LibSsl.SSL_CTX_set_options(raw, (ulong)(LibSsl.OptionNoTicket | LibSsl.OptionNoRenegotiation));
        // Idle connections give their 16 KiB read and write buffers back.
        LibSsl.SSL_CTX_ctrl(raw, LibSsl.CtrlSetMode, LibSsl.ModeReleaseBuffers, 0);

        UseCertificate(raw, certificate);
        var store = LibSsl.SSL_CTX_get_cert_store(raw);
        foreach (var root in roots)
        {
            Hand(root, x509 => LibSsl.X509_STORE_add_cert(store, x509), $"adding root '{root.Subject}' failed");
        }
    }

    private static void UseCertificate(nint ctx, WorkloadCertificate certificate)
    {
        Hand(certificate.Certificate, x509 => LibSsl.SSL_CTX_use_certificate(ctx, x509), "SSL_CTX_use_certificate failed");
        foreach (var intermediate in certificate.Context.IntermediateCertificates)
        {
            // SSL_CTX_add1_chain_cert.
            Hand(intermediate, x509 => LibSsl.SSL_CTX_ctrl(ctx, LibSsl.CtrlChainCert, 1, x509), "adding the chain certificate failed");
        }

        using var ecdsa = certificate.Certificate.GetECDsaPrivateKey();
        using var rsa = ecdsa is null ? certificate.Certificate.GetRSAPrivateKey() : null;
        AsymmetricAlgorithm key = (AsymmetricAlgorithm?)ecdsa ?? rsa ?? throw new InvalidOperationException("the workload certificate has no ECDSA or RSA private key");
        var pkcs8 = key.ExportPkcs8PrivateKey();
        try
        {
            fixed (byte* p = pkcs8)
            {
                var cursor = p;
                var pkey = LibSsl.d2i_AutoPrivateKey(null, &cursor, pkcs8.Length);
                if (pkey == 0)
                {
                    throw new InvalidOperationException(LibSsl.TakeErrors("reading the private key failed"));
                }

                var keyed = LibSsl.SSL_CTX_use_PrivateKey(ctx, pkey);
                LibSsl.EVP_PKEY_free(pkey);
                if (keyed != 1 || LibSsl.SSL_CTX_check_private_key(ctx) != 1)
                {
                    throw new InvalidOperationException(LibSsl.TakeErrors("the private key does not match the workload certificate"));
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    /// <summary>Gives OpenSSL <paramref name="certificate"/> through <paramref name="use"/>, which takes its own reference; throws <paramref name="failure"/> unless it returns 1.</summary>
    private static void Hand(X509Certificate2 certificate, Func<nint, long> use, string failure)
    {
        var x509 = LibSsl.Certificate(certificate.RawDataMemory.Span);
        var result = use(x509);
        LibSsl.X509_free(x509);
        if (result != 1)
        {
            throw new InvalidOperationException(LibSsl.TakeErrors(failure));
        }
    }

    /// <summary>
    /// Frees the SSL_CTX when the last holder lets go; connections made from it hold OpenSSL's own reference, so a
    /// context replaced by a renewal outlives nothing it still serves.
    /// </summary>
    private sealed class Handle(nint ctx) : SafeHandle(ctx, ownsHandle: true)
    {
        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            LibSsl.SSL_CTX_free(handle);
            return true;
        }
    }
}
