using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

var mode = args[0]; var dir = args[1]; var port = int.Parse(args[2]);
var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port)); listener.Listen(512);
long count = 0, failed = 0;
_ = Task.Run(async () => { while (true) { await Task.Delay(1000); Console.WriteLine($"{Interlocked.Read(ref count)} {Interlocked.Read(ref failed)}"); } });
var response = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray();
if (mode == "sslstream")
{
    var root = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(dir, "root.pem"));
    var inter = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(dir, "inter.pem"));
    var leaf = X509Certificate2.CreateFromPemFile(Path.Combine(dir, "server.pem"), Path.Combine(dir, "server.p8"));
    leaf = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
    var ctx = SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(inter), offline: true);
    var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
    policy.CustomTrustStore.Add(root);
    while (true)
    {
        var s = await listener.AcceptAsync();
        _ = Task.Run(async () =>
        {
            try
            {
                using var ns = new NetworkStream(s, true);
                using var ssl = new SslStream(ns);
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = ctx, ClientCertificateRequired = true, EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck, CertificateChainPolicy = policy, AllowTlsResume = false,
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                    RemoteCertificateValidationCallback = (_, c, ch, e) => (e == SslPolicyErrors.None || Log(e, ch)) && c is X509Certificate2 x && x.GetNameInfo(X509NameType.UrlName, false) is { Length: > 0 },
                });
                var buf = new byte[4096]; await ssl.ReadAsync(buf);
                await ssl.WriteAsync(response);
                Interlocked.Increment(ref count);
            }
            catch (Exception e) { if (Interlocked.Increment(ref failed) < 3) Console.WriteLine(e); }
        });
    }
}
else
{
    var ctx = Ossl.SSL_CTX_new(Ossl.TLS_server_method());
    Check(Ossl.SSL_CTX_use_certificate_chain_file(ctx, Path.Combine(dir, "server-chain.pem")));
    Check(Ossl.SSL_CTX_use_PrivateKey_file(ctx, Path.Combine(dir, "server.key"), 1));
    Check(Ossl.SSL_CTX_load_verify_locations(ctx, Path.Combine(dir, "root.pem"), null));
    Ossl.SSL_CTX_set_verify(ctx, 1 | 2, 0);
    Ossl.SSL_CTX_ctrl(ctx, 123 /*SET_MIN_PROTO*/, 0x0303, 0);
    Ossl.SSL_CTX_ctrl(ctx, 44 /*SET_SESS_CACHE_MODE*/, 0, 0);
    Ossl.SSL_CTX_set_num_tickets(ctx, 0);
    while (true)
    {
        var s = listener.Accept();
        _ = Task.Run(() =>
        {
            try
            {
                s.Blocking = true;
                var ssl = Ossl.SSL_new(ctx);
                Ossl.SSL_set_fd(ssl, (int)s.Handle);
                var ar = Ossl.SSL_accept(ssl); if (ar != 1) { var ge = Ossl.SSL_get_error(ssl, ar); var ee = Ossl.ERR_get_error(); Ossl.ERR_clear_error(); throw new Exception($"accept {ar} {ge} {ee:x} {Marshal.GetLastPInvokeError()}"); }
                var peer = Ossl.SSL_get1_peer_certificate(ssl);
                if (peer == 0 || Ossl.SSL_get_verify_result(ssl) != 0) throw new Exception("verify");
                int len = Ossl.i2d_X509(peer, 0);
                var der = new byte[len];
                unsafe { fixed (byte* p = der) { nint pp = (nint)p; Ossl.i2d_X509(peer, (nint)(&pp)); } }
                Ossl.X509_free(peer);
                using (var cert = X509CertificateLoader.LoadCertificate(der)) { if (cert.GetNameInfo(X509NameType.UrlName, false) is not { Length: > 0 }) throw new Exception("id"); }
                var buf = new byte[4096];
                unsafe { fixed (byte* p = buf) Ossl.SSL_read(ssl, (nint)p, buf.Length); fixed (byte* r = response) Ossl.SSL_write(ssl, (nint)r, response.Length); }
                Ossl.SSL_shutdown(ssl); Ossl.SSL_free(ssl);
                s.Dispose();
                Interlocked.Increment(ref count);
            }
            catch (Exception e) { s.Dispose(); if (Interlocked.Increment(ref failed) < 3) Console.WriteLine(e); }
        });
    }
}
static bool Log(SslPolicyErrors e, X509Chain? ch) { Console.WriteLine($"{e} {string.Join(",", ch?.ChainStatus.Select(x => x.StatusInformation) ?? [])}"); return false; }
static void Check(int r) { if (r != 1) throw new Exception("openssl setup"); }

static unsafe class Ossl
{
    const string Ssl = "libssl.so.3", Crypto = "libcrypto.so.3";
    [DllImport(Ssl)] public static extern nint TLS_server_method();
    [DllImport(Ssl)] public static extern nint SSL_CTX_new(nint m);
    [DllImport(Ssl)] public static extern int SSL_CTX_use_certificate_chain_file(nint c, [MarshalAs(UnmanagedType.LPUTF8Str)] string f);
    [DllImport(Ssl)] public static extern int SSL_CTX_use_PrivateKey_file(nint c, [MarshalAs(UnmanagedType.LPUTF8Str)] string f, int type);
    [DllImport(Ssl)] public static extern int SSL_CTX_load_verify_locations(nint c, [MarshalAs(UnmanagedType.LPUTF8Str)] string f, string? p);
    [DllImport(Ssl)] public static extern void SSL_CTX_set_verify(nint c, int mode, nint cb);
    [DllImport(Ssl)] public static extern long SSL_CTX_ctrl(nint c, int cmd, long l, nint p);
    [DllImport(Ssl)] public static extern int SSL_CTX_set_num_tickets(nint c, nuint n);
    [DllImport(Ssl)] public static extern nint SSL_new(nint c);
    [DllImport(Ssl)] public static extern int SSL_set_fd(nint s, int fd);
    [DllImport(Ssl)] public static extern int SSL_accept(nint s);
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
    [DllImport(Ssl, SetLastError = true)] public static extern int SSL_get_error(nint s, int r);
}
