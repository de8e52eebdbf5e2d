// Client-side mTLS handshake cost, as a calling sidecar pays it: SslStream as MeshConnector uses it, against OpenSSL
// called directly with one SSL_CTX. Each of LOOPS threads: connect, full handshake (client certificate, no resumption,
// the server's chain verified against the mesh root only, its SPIFFE ID read), one HTTP/1.0 request, read to the end.
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

var mode = args[0]; var dir = args[1]; var port = int.Parse(args[2]); var loops = int.Parse(args[3]);
var target = new IPEndPoint(IPAddress.Loopback, port);
const string Sni = "outbound_.5000_._.helloworld.sample.svc.cluster.local";
var request = "GET / HTTP/1.0\r\n\r\n"u8.ToArray();
long count = 0, failed = 0;
_ = Task.Run(async () => { while (true) { await Task.Delay(1000); Console.WriteLine($"{Interlocked.Read(ref count)} {Interlocked.Read(ref failed)}"); } });

if (mode == "sslstream")
{
    var root = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(dir, "root.pem"));
    var inter = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(dir, "inter.pem"));
    var leaf = X509Certificate2.CreateFromPemFile(Path.Combine(dir, "client.pem"), Path.Combine(dir, "client.p8"));
    leaf = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
    var ctx = SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(inter), offline: true);
    var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
    policy.CustomTrustStore.Add(root);
    var tasks = Enumerable.Range(0, loops).Select(_ => Task.Run(async () =>
    {
        var buffer = new byte[4096];
        while (true)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(target);
                using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
                // As MeshTls.Client: the chain built once with the mesh-roots-only policy, the callback reading the identity.
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = Sni, ClientCertificateContext = ctx, ApplicationProtocols = [SslApplicationProtocol.Http11],
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13, CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    CertificateChainPolicy = policy, AllowRenegotiation = false, AllowTlsResume = false,
                    RemoteCertificateValidationCallback = (_, c, _, e) => (e & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None && c is X509Certificate2 x && x.GetNameInfo(X509NameType.UrlName, false) is { Length: > 0 },
                });
                await ssl.WriteAsync(request);
                while (await ssl.ReadAsync(buffer) > 0) { }
                Interlocked.Increment(ref count);
            }
            catch (Exception e) { if (Interlocked.Increment(ref failed) < 3) Console.WriteLine(e); }
        }
    })).ToArray();
    await Task.WhenAll(tasks);
}
else
{
    var ctx = Ossl.SSL_CTX_new(Ossl.TLS_client_method());
    Check(Ossl.SSL_CTX_use_certificate_chain_file(ctx, Path.Combine(dir, "client-chain.pem")));
    Check(Ossl.SSL_CTX_use_PrivateKey_file(ctx, Path.Combine(dir, "client.key"), 1));
    Check(Ossl.SSL_CTX_load_verify_locations(ctx, Path.Combine(dir, "root.pem"), null));
    Ossl.SSL_CTX_set_verify(ctx, 1, 0);
    Ossl.SSL_CTX_ctrl(ctx, 123 /*SET_MIN_PROTO*/, 0x0303, 0);
    Ossl.SSL_CTX_ctrl(ctx, 44 /*SET_SESS_CACHE_MODE*/, 0, 0);
    Ossl.SSL_CTX_set_options(ctx, 1UL << 14 /*NO_TICKET*/);
    var alpn = new byte[] { 8, (byte)'h', (byte)'t', (byte)'t', (byte)'p', (byte)'/', (byte)'1', (byte)'.', (byte)'1' };
    var threads = Enumerable.Range(0, loops).Select(_ => new Thread(() =>
    {
        var buffer = new byte[4096];
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            nint ssl = 0;
            try
            {
                socket.Connect(target);
                ssl = Ossl.SSL_new(ctx);
                Ossl.SSL_set_fd(ssl, (int)socket.Handle);
                Ossl.SSL_ctrl(ssl, 55 /*SET_TLSEXT_HOSTNAME*/, 0, Sni);
                unsafe { fixed (byte* a = alpn) Ossl.SSL_set_alpn_protos(ssl, a, (uint)alpn.Length); }
                var r = Ossl.SSL_connect(ssl);
                if (r != 1) { var ge = Ossl.SSL_get_error(ssl, r); var ee = Ossl.ERR_get_error(); Ossl.ERR_clear_error(); throw new Exception($"connect {r} {ge} {ee:x}"); }
                // The server's SPIFFE ID, read from its verified leaf as secure naming needs it.
                var peer = Ossl.SSL_get1_peer_certificate(ssl);
                if (peer == 0 || Ossl.SSL_get_verify_result(ssl) != 0) throw new Exception("verify");
                int len = Ossl.i2d_X509(peer, 0);
                var der = new byte[len];
                unsafe { fixed (byte* p = der) { nint pp = (nint)p; Ossl.i2d_X509(peer, (nint)(&pp)); } }
                Ossl.X509_free(peer);
                using (var cert = X509CertificateLoader.LoadCertificate(der)) { if (cert.GetNameInfo(X509NameType.UrlName, false) is not { Length: > 0 }) throw new Exception("id"); }
                unsafe
                {
                    fixed (byte* q = request) Ossl.SSL_write(ssl, (nint)q, request.Length);
                    fixed (byte* p = buffer) while (Ossl.SSL_read(ssl, (nint)p, buffer.Length) > 0) { }
                }
                Ossl.SSL_shutdown(ssl);
                Interlocked.Increment(ref count);
            }
            catch (Exception e) { if (Interlocked.Increment(ref failed) < 3) Console.WriteLine(e); }
            finally { if (ssl != 0) Ossl.SSL_free(ssl); }
        }
    })).ToArray();
    foreach (var t in threads) t.Start();
    foreach (var t in threads) t.Join();
}

static void Check(int r) { if (r != 1) throw new Exception("openssl setup"); }

static unsafe class Ossl
{
    const string Ssl = "libssl.so.3", Crypto = "libcrypto.so.3";
    [DllImport(Ssl)] public static extern nint TLS_client_method();
    [DllImport(Ssl)] public static extern nint SSL_CTX_new(nint m);
    [DllImport(Ssl)] public static extern int SSL_CTX_use_certificate_chain_file(nint c, [MarshalAs(UnmanagedType.LPUTF8Str)] string f);
    [DllImport(Ssl)] public static extern int SSL_CTX_use_PrivateKey_file(nint c, [MarshalAs(UnmanagedType.LPUTF8Str)] string f, int type);
    [DllImport(Ssl)] public static extern int SSL_CTX_load_verify_locations(nint c, [MarshalAs(UnmanagedType.LPUTF8Str)] string f, string? p);
    [DllImport(Ssl)] public static extern void SSL_CTX_set_verify(nint c, int mode, nint cb);
    [DllImport(Ssl)] public static extern long SSL_CTX_ctrl(nint c, int cmd, long l, nint p);
    [DllImport(Ssl)] public static extern ulong SSL_CTX_set_options(nint c, ulong o);
    [DllImport(Ssl)] public static extern nint SSL_new(nint c);
    [DllImport(Ssl)] public static extern int SSL_set_fd(nint s, int fd);
    [DllImport(Ssl)] public static extern long SSL_ctrl(nint s, int cmd, long l, [MarshalAs(UnmanagedType.LPUTF8Str)] string p);
    [DllImport(Ssl)] public static extern int SSL_set_alpn_protos(nint s, byte* p, uint n);
    [DllImport(Ssl)] public static extern int SSL_connect(nint s);
    [DllImport(Ssl)] public static extern nint SSL_get1_peer_certificate(nint s);
    [DllImport(Ssl)] public static extern long SSL_get_verify_result(nint s);
    [DllImport(Ssl)] public static extern int SSL_read(nint s, nint b, int n);
    [DllImport(Ssl)] public static extern int SSL_write(nint s, nint b, int n);
    [DllImport(Ssl)] public static extern int SSL_shutdown(nint s);
    [DllImport(Ssl)] public static extern void SSL_free(nint s);
    [DllImport(Crypto)] public static extern int i2d_X509(nint x, nint pp);
    [DllImport(Crypto)] public static extern void X509_free(nint x);
    [DllImport(Crypto)] public static extern void ERR_clear_error();
    [DllImport(Crypto)] public static extern ulong ERR_get_error();
    [DllImport(Ssl)] public static extern int SSL_get_error(nint s, int r);
}
