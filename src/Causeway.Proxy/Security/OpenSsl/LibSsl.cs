using System.Runtime.InteropServices;

namespace Causeway.Proxy.Security.OpenSsl;

/// <summary>
/// The OpenSSL 3 calls mesh TLS makes, both sides: the same libssl.so.3 and libcrypto.so.3 that .NET's own
/// TLS loads on Linux, called directly so that one context serves every handshake (see <see cref="MeshTlsContext"/>).
/// </summary>
internal static unsafe partial class LibSsl
{
    private const string Ssl = "libssl.so.3";
    private const string Crypto = "libcrypto.so.3";

    public const int VerifyPeer = 0x01;
    public const int VerifyFailIfNoPeerCert = 0x02;
    public const int ErrorNone = 0;
    public const int ErrorWantRead = 2;
    public const int ErrorSyscall = 5;
    public const int ErrorZeroReturn = 6;
    public const int TlsExtErrOk = 0;
    public const int TlsExtErrAlertFatal = 2;
    public const int NpnNegotiated = 1;
    public const int Tls12Version = 0x0303;
    public const int Tls13Version = 0x0304;
    public const int CtrlSetMinProtoVersion = 123;
    public const int CtrlSetSessionCacheMode = 44;
    public const int CtrlSetMode = 33;
    public const long SessionCacheOff = 0;
    public const long OptionNoTicket = 1L << 14;
    public const long OptionNoRenegotiation = 1L << 30;
    public const long ModeReleaseBuffers = 0x10;
    public const int CtrlChainCert = 89;
    public const int CtrlPending = 10;
    public const int CtrlSetTlsextHostname = 55;
    public const int TlsextNametypeHostName = 0;
    public const int AppDataIndex = 0;
    public const int X509ErrorApplicationVerification = 50;

    /// <summary>Null when this host has OpenSSL 3's libraries; else which one is missing and what to do.</summary>
    public static string? Missing() => Missing(Ssl, Crypto);

    internal static string? Missing(params string[] libraries)
    {
        foreach (var library in libraries)
        {
            if (!NativeLibrary.TryLoad(library, out var handle))
            {
                return $"the sidecar's mTLS runs on OpenSSL 3, and this host has no {library}: install OpenSSL 3's libraries (the libssl3 package on Debian and Ubuntu, openssl-libs on Fedora and RHEL)";
            }

            NativeLibrary.Free(handle);
        }

        return null;
    }

    [LibraryImport(Ssl)]
    public static partial nint TLS_server_method();

    [LibraryImport(Ssl)]
    public static partial nint TLS_client_method();

    [LibraryImport(Ssl)]
    public static partial nint SSL_CTX_new(nint method);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_free(nint ctx);

    [LibraryImport(Ssl)]
    public static partial long SSL_CTX_ctrl(nint ctx, int command, long larg, nint parg);

    [LibraryImport(Ssl)]
    public static partial ulong SSL_CTX_set_options(nint ctx, ulong options);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_set_num_tickets(nint ctx, nuint tickets);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_use_certificate(nint ctx, nint x509);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_use_PrivateKey(nint ctx, nint key);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_check_private_key(nint ctx);

    [LibraryImport(Ssl)]
    public static partial nint SSL_CTX_get_cert_store(nint ctx);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_verify(nint ctx, int mode, nint callback);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_alpn_select_cb(nint ctx, delegate* unmanaged<nint, byte**, byte*, byte*, uint, nint, int> callback, nint argument);

    [LibraryImport(Ssl)]
    public static partial int SSL_select_next_proto(byte** output, byte* outputLength, byte* server, uint serverLength, byte* client, uint clientLength);

    [LibraryImport(Ssl)]
    public static partial nint SSL_new(nint ctx);

    [LibraryImport(Ssl)]
    public static partial void SSL_free(nint ssl);

    [LibraryImport(Ssl)]
    public static partial void SSL_set_bio(nint ssl, nint readBio, nint writeBio);

    [LibraryImport(Ssl)]
    public static partial void SSL_set_accept_state(nint ssl);

    [LibraryImport(Ssl)]
    public static partial void SSL_set_connect_state(nint ssl);

    [LibraryImport(Ssl)]
    public static partial long SSL_ctrl(nint ssl, int command, long larg, nint parg);

    /// <summary>Returns 0 on success, unlike most of OpenSSL.</summary>
    [LibraryImport(Ssl)]
    public static partial int SSL_set_alpn_protos(nint ssl, byte* protocols, uint length);

    [LibraryImport(Ssl)]
    public static partial int SSL_do_handshake(nint ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_read(nint ssl, byte* buffer, int count);

    [LibraryImport(Ssl)]
    public static partial int SSL_write(nint ssl, byte* buffer, int count);

    [LibraryImport(Ssl)]
    public static partial int SSL_pending(nint ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_shutdown(nint ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_get_error(nint ssl, int result);

    [LibraryImport(Ssl)]
    public static partial int SSL_version(nint ssl);

    [LibraryImport(Ssl)]
    public static partial long SSL_get_verify_result(nint ssl);

    [LibraryImport(Ssl)]
    public static partial nint SSL_get_servername(nint ssl, int type);

    [LibraryImport(Ssl)]
    public static partial void SSL_get0_alpn_selected(nint ssl, byte** data, uint* length);

    [LibraryImport(Ssl)]
    public static partial nint SSL_get0_peer_certificate(nint ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_set_ex_data(nint ssl, int index, nint data);

    [LibraryImport(Ssl)]
    public static partial nint SSL_get_ex_data(nint ssl, int index);

    [LibraryImport(Ssl)]
    public static partial int SSL_get_ex_data_X509_STORE_CTX_idx();

    [LibraryImport(Ssl)]
    public static partial nint SSL_get0_verified_chain(nint ssl);

    [LibraryImport(Crypto)]
    public static partial nint BIO_s_mem();

    [LibraryImport(Crypto)]
    public static partial nint BIO_new(nint method);

    [LibraryImport(Crypto)]
    public static partial long BIO_ctrl(nint bio, int command, long larg, nint parg);

    [LibraryImport(Crypto)]
    public static partial int BIO_read(nint bio, byte* buffer, int count);

    [LibraryImport(Crypto)]
    public static partial int BIO_write(nint bio, byte* buffer, int count);

    [LibraryImport(Crypto)]
    public static partial nint d2i_X509(nint* result, byte** input, long length);

    [LibraryImport(Crypto)]
    public static partial int i2d_X509(nint x509, byte** output);

    [LibraryImport(Crypto)]
    public static partial void X509_free(nint x509);

    [LibraryImport(Crypto)]
    public static partial int X509_STORE_add_cert(nint store, nint x509);

    [LibraryImport(Crypto)]
    public static partial nint d2i_AutoPrivateKey(nint* result, byte** input, long length);

    [LibraryImport(Crypto)]
    public static partial void EVP_PKEY_free(nint key);

    [LibraryImport(Crypto)]
    public static partial int OPENSSL_sk_num(nint stack);

    [LibraryImport(Crypto)]
    public static partial nint OPENSSL_sk_value(nint stack, int index);

    [LibraryImport(Crypto)]
    public static partial ulong ERR_get_error();

    [LibraryImport(Crypto)]
    public static partial void ERR_clear_error();

    [LibraryImport(Crypto)]
    public static partial void ERR_error_string_n(ulong error, byte* buffer, nuint length);

    [LibraryImport(Crypto)]
    public static partial nint X509_verify_cert_error_string(long error);

    [LibraryImport(Crypto)]
    public static partial int X509_STORE_CTX_get_error_depth(nint store);

    [LibraryImport(Crypto)]
    public static partial nint X509_STORE_CTX_get_current_cert(nint store);

    [LibraryImport(Crypto)]
    public static partial void X509_STORE_CTX_set_error(nint store, int error);

    [LibraryImport(Crypto)]
    public static partial nint X509_STORE_CTX_get_ex_data(nint store, int index);

    /// <summary>The thread's queued OpenSSL errors as one line (the queue emptied), or <paramref name="fallback"/> when none.</summary>
    public static string TakeErrors(string fallback)
    {
        var text = new List<string>();
        Span<byte> buffer = stackalloc byte[256];
        for (var e = ERR_get_error(); e != 0; e = ERR_get_error())
        {
            fixed (byte* b = buffer)
            {
                ERR_error_string_n(e, b, (nuint)buffer.Length);
                text.Add(Marshal.PtrToStringUTF8((nint)b) ?? "");
            }
        }

        return text.Count == 0 ? fallback : string.Join("; ", text);
    }

    /// <summary>The DER encoding of an OpenSSL certificate.</summary>
    public static byte[] Der(nint x509)
    {
        var length = i2d_X509(x509, null);
        if (length <= 0)
        {
            throw new InvalidOperationException(TakeErrors("i2d_X509 failed"));
        }

        var der = new byte[length];
        fixed (byte* d = der)
        {
            var cursor = d;
            _ = i2d_X509(x509, &cursor);
        }

        return der;
    }

    /// <summary>An OpenSSL certificate read from DER (the caller frees it).</summary>
    public static nint Certificate(ReadOnlySpan<byte> der)
    {
        fixed (byte* d = der)
        {
            var cursor = d;
            var x509 = d2i_X509(null, &cursor, der.Length);
            return x509 != 0 ? x509 : throw new InvalidOperationException(TakeErrors("d2i_X509 failed"));
        }
    }
}
