using System.Globalization;

namespace Causeway.LoadBench.Peers;

/// <summary>
/// The configuration files of the peers, each tuned as its own documentation advises for a keep-alive reverse proxy
/// on one core: HAProxy with one thread and connection reuse; nginx with one worker, HTTP/1.1 and upstream keepalive
/// (its defaults, HTTP/1.0 and no keepalive, would open a connection per request).
/// </summary>
public static class PeerConfigs
{
    /// <summary>Idle upstream connections each side of nginx's HTTP/2 pair keeps: past B4's 8 × 16 requests in flight.</summary>
    public const int H2Keepalive = 256;

    /// <summary>
    /// The shared backend: nginx answering every request with the same body, over HTTP/1.1 on <paramref name="listen"/>
    /// and over cleartext HTTP/2 (prior knowledge, B4) on <paramref name="h2Listen"/>, where it also answers B4's gRPC
    /// unary method with its file in <paramref name="grpcDir"/> (a gRPC frame) and <c>grpc-status: 0</c> as a trailer.
    /// It reads each call whole before answering, as a gRPC server's unary handler does (a mirror subrequest that does
    /// nothing, with the request body: nginx's file answer would otherwise leave at the request's headers, and nginx's
    /// own grpc_pass pair broke connections on that). nginx serves no file to a POST (405), so the 405 is turned into
    /// the file's 200, the usual way.
    /// </summary>
    public static string Backend(string dir, string listen, string h2Listen, int bodyBytes, string grpcDir) => Nginx(dir, $$"""
            server {
                listen {{listen}} reuseport backlog=4096;
                location / { default_type application/octet-stream; return 200 "{{new string('x', bodyBytes)}}"; }
            }
            server {
                listen {{h2Listen}} http2 backlog=4096;
                location / { default_type application/octet-stream; return 200 "{{new string('x', bodyBytes)}}"; }
                location {{Load.GrpcUnary.ServicePath}} {
                    mirror /read-request; mirror_request_body on;
                    alias {{grpcDir}}/;
                    types { } default_type application/grpc;
                    etag off;
                    add_trailer grpc-status 0 always;
                    error_page 405 =200 $uri;
                }
                location = /read-request { internal; return 204; }
            }
        """);

    /// <summary>The caller's side of an HAProxy HTTP/2 pair (B4): cleartext HTTP/2 in, mTLS HTTP/2 out.</summary>
    public static string HaproxyH2ClientSide(string listen, string peer, PeerCertificates certs, string serverName) => Haproxy($"""
        frontend in
            bind {listen} proto h2
            default_backend peer
        backend peer
            server peer {peer} ssl alpn h2 crt {certs.CombinedFile("client")} ca-file {certs.RootFile} verify required verifyhost {serverName} sni str({serverName})
        """);

    /// <summary>The destination's side of an HAProxy HTTP/2 pair (B4): mTLS HTTP/2 in, cleartext HTTP/2 to the app.</summary>
    public static string HaproxyH2ServerSide(string listen, string app, PeerCertificates certs) => Haproxy($"""
        frontend in
            bind {listen} ssl crt {certs.CombinedFile("server")} ca-file {certs.RootFile} verify required alpn h2
            default_backend app
        backend app
            server app {app} proto h2
        """);

    /// <summary>
    /// The caller's side of an nginx HTTP/2 pair (B4): cleartext HTTP/2 in, mTLS HTTP/2 out through <c>grpc_pass</c>,
    /// nginx's only way to speak HTTP/2 to an upstream. <c>grpc_pass</c> sends one request at a time on an upstream
    /// connection, so both sides keep more idle connections (<see cref="H2Keepalive"/>) than B4 has requests in flight:
    /// with fewer, every request past them would open a new mTLS connection.
    /// </summary>
    public static string NginxH2ClientSide(string dir, string listen, string peer, PeerCertificates certs, string serverName) => Nginx(dir, $$"""
            upstream peer { server {{peer}}; keepalive {{H2Keepalive}}; keepalive_requests 1000000; }
            server {
                listen {{listen}} http2 backlog=4096;
                location / {
                    grpc_pass grpcs://peer;
                    grpc_ssl_certificate {{certs.ChainFile("client")}}; grpc_ssl_certificate_key {{certs.KeyFile("client")}};
                    grpc_ssl_trusted_certificate {{certs.RootFile}}; grpc_ssl_verify on; grpc_ssl_verify_depth 3;
                    grpc_ssl_name {{serverName}}; grpc_ssl_server_name on; grpc_ssl_session_reuse on; grpc_ssl_protocols TLSv1.2 TLSv1.3;
                }
            }
        """);

    /// <summary>The destination's side of an nginx HTTP/2 pair (B4): mTLS HTTP/2 in, cleartext HTTP/2 to the app.</summary>
    public static string NginxH2ServerSide(string dir, string listen, string app, PeerCertificates certs) => Nginx(dir, $$"""
            upstream app { server {{app}}; keepalive {{H2Keepalive}}; keepalive_requests 1000000; }
            server {
                listen {{listen}} ssl http2 backlog=4096;
                ssl_certificate {{certs.ChainFile("server")}}; ssl_certificate_key {{certs.KeyFile("server")}};
                ssl_client_certificate {{certs.RootFile}}; ssl_verify_client on; ssl_verify_depth 3;
                ssl_protocols TLSv1.2 TLSv1.3;
                location / { grpc_pass grpc://app; }
            }
        """);

    /// <summary>nginx as a plain HTTP/1.1 reverse proxy to <paramref name="upstream"/>.</summary>
    public static string NginxSingle(string dir, string listen, string upstream) => Nginx(dir, $$"""
            upstream app { server {{upstream}}; keepalive 64; keepalive_requests 1000000; }
            server {
                listen {{listen}} backlog=4096;
                location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; }
            }
        """);

    /// <summary>The caller's side of an nginx pair: HTTP in, mTLS (HTTP/1.1: nginx has no HTTP/2 to upstreams) out.</summary>
    public static string NginxClientSide(string dir, string listen, string peer, PeerCertificates certs, string serverName) => Nginx(dir, $$"""
            upstream peer { server {{peer}}; keepalive 64; keepalive_requests 1000000; }
            server {
                listen {{listen}} backlog=4096;
                location / {
                    proxy_pass https://peer; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host;
                    proxy_ssl_certificate {{certs.ChainFile("client")}}; proxy_ssl_certificate_key {{certs.KeyFile("client")}};
                    proxy_ssl_trusted_certificate {{certs.RootFile}}; proxy_ssl_verify on; proxy_ssl_verify_depth 3;
                    proxy_ssl_name {{serverName}}; proxy_ssl_server_name on; proxy_ssl_session_reuse on; proxy_ssl_protocols TLSv1.2 TLSv1.3;
                }
            }
        """);

    /// <summary>
    /// The destination's side of an nginx pair: mTLS in (client certificate required), HTTP/1.1 to the app. TLS 1.3 is
    /// named because nginx 1.22 leaves it out by default; the other peers offer 1.2 and 1.3.
    /// </summary>
    public static string NginxServerSide(string dir, string listen, string app, PeerCertificates certs) => Nginx(dir, $$"""
            upstream app { server {{app}}; keepalive 64; keepalive_requests 1000000; }
            server {
                listen {{listen}} ssl backlog=4096;
                ssl_certificate {{certs.ChainFile("server")}}; ssl_certificate_key {{certs.KeyFile("server")}};
                ssl_client_certificate {{certs.RootFile}}; ssl_verify_client on; ssl_verify_depth 3;
                ssl_protocols TLSv1.2 TLSv1.3;
                location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; }
            }
        """);

    /// <summary>HAProxy as a plain HTTP/1.1 reverse proxy.</summary>
    public static string HaproxySingle(string listen, string upstream) => Haproxy($"""
        frontend in
            bind {listen}
            default_backend app
        backend app
            server app {upstream}
        """);

    /// <summary>The caller's side of an HAProxy pair: HTTP in, mTLS with HTTP/2 (ALPN h2) out.</summary>
    public static string HaproxyClientSide(string listen, string peer, PeerCertificates certs, string serverName) => Haproxy($"""
        frontend in
            bind {listen}
            default_backend peer
        backend peer
            server peer {peer} ssl alpn h2 crt {certs.CombinedFile("client")} ca-file {certs.RootFile} verify required verifyhost {serverName} sni str({serverName})
        """);

    /// <summary>The destination's side of an HAProxy pair: mTLS in (client certificate required, h2), HTTP/1.1 to the app.</summary>
    public static string HaproxyServerSide(string listen, string app, PeerCertificates certs) => Haproxy($"""
        frontend in
            bind {listen} ssl crt {certs.CombinedFile("server")} ca-file {certs.RootFile} verify required alpn h2,http/1.1
            default_backend app
        backend app
            server app {app}
        """);

    /// <summary>
    /// HAProxy as an SNI passthrough proxy (B6): it waits for the ClientHello, routes on <c>req.ssl_sni</c> and then
    /// moves bytes; with <paramref name="splice"/> it moves them with splice(2), kernel to kernel (its pipes take
    /// descriptors too, hence a lower maxconn: the run needs tens of connections).
    /// </summary>
    public static string HaproxySniPassthrough(string listen, string upstream, bool splice) => $$"""
        global
            nbthread 1
            maxconn 4000
        defaults
            mode tcp
            timeout connect 5s
            timeout client 120s
            timeout server 120s
        {{(splice ? "    option splice-request\n    option splice-response" : "")}}
        frontend in
            bind {{listen}}
            tcp-request inspect-delay 5s
            tcp-request content accept if { req.ssl_hello_type 1 }
            use_backend mesh if { req.ssl_sni -m end .svc.cluster.local }
        backend mesh
            server app {{upstream}}

        """;

    /// <summary>nginx's stream module as an SNI passthrough proxy (B6): <c>ssl_preread</c>, then a map on the SNI.</summary>
    public static string NginxSniPassthrough(string dir, string listen, string upstream) => NginxMain(dir, $"load_module {NginxStreamModule};", $$"""
        stream {
            map $ssl_preread_server_name $mesh { ~\.svc\.cluster\.local$ {{upstream}}; default 127.0.0.1:9; }
            server { listen {{listen}} backlog=4096; ssl_preread on; proxy_pass $mesh; }
        }
        """);

    /// <summary>Debian's nginx has its stream module apart (package libnginx-mod-stream).</summary>
    public const string NginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so";

    private static string Haproxy(string sections) => $"""
        global
            nbthread 1
            maxconn 8000
        defaults
            mode http
            option http-keep-alive
            http-reuse always
            timeout connect 5s
            timeout client 120s
            timeout server 120s
        {sections}

        """;

    private static string Nginx(string dir, string server) => NginxMain(dir, "", string.Create(CultureInfo.InvariantCulture, $$"""
        http {
            access_log off;
            keepalive_requests 1000000;
            keepalive_timeout 300s;
            client_body_temp_path {{dir}}/body;
            proxy_temp_path {{dir}}/proxy;
            fastcgi_temp_path {{dir}}/fastcgi;
            uwsgi_temp_path {{dir}}/uwsgi;
            scgi_temp_path {{dir}}/scgi;
        {{server}}
        }

        """));

    /// <summary>One nginx worker in the foreground, its files under <paramref name="dir"/>, then <paramref name="blocks"/>.</summary>
    private static string NginxMain(string dir, string preamble, string blocks) => string.Create(CultureInfo.InvariantCulture, $$"""
        {{preamble}}
        worker_processes 1;
        daemon off;
        master_process on;
        pid {{dir}}/nginx.pid;
        error_log {{dir}}/error.log warn;
        events { worker_connections 8192; }
        {{blocks}}

        """);
}
