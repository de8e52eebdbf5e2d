using System.Globalization;
using System.Text;
using Causeway.Proxy.Configuration;
using Causeway.Proxy.Discovery;
using Causeway.Proxy.LoadBalancing;
using Causeway.Proxy.Security;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Causeway.Proxy.Admin;

/// <summary>The admin port (15000) and the readiness port (15021), in the paths Envoy and Istio users know.</summary>
public sealed class ProxyAdminEndpoints(ProxyOptions options, ProxyConfigHolder config, DiscoveryClient discovery, WorkloadCertificates? certificates, ProxyMetrics metrics)
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithIndentation());

    public bool Ready => config.Current is not null && (certificates is null || certificates.Current is not null);

    public async Task HandleAdminAsync(HttpContext context)
    {
        switch (context.Request.Path.Value)
        {
            case "/config_dump":
                await Text(context, ConfigDump(), "application/json");
                break;
            case "/clusters":
                await Text(context, Clusters(), "text/plain");
                break;
            case "/stats/prometheus":
                await Text(context, metrics.ToPrometheus(), "text/plain; version=0.0.4");
                break;
            case "/ready":
                await HandleHealthAsync(context);
                break;
            case "/memory":
                await Text(context, Memory(), "application/json");
                break;
            case "/server_info":
                await Text(context, $"{{\"id\":\"{options.Id}\",\"role\":\"{options.Role}\",\"network\":\"{options.Network}\",\"controlPlaneConnected\":{(discovery.Connected ? "true" : "false")},\"lastError\":{(discovery.LastError is null ? "null" : "\"" + discovery.LastError.Replace("\"", "'", StringComparison.Ordinal) + "\"")}}}\n", "application/json");
                break;
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                await Text(context, "admin paths: /config_dump /clusters /memory /stats/prometheus /ready /server_info\n", "text/plain");
                break;
        }
    }

    /// <summary>
    /// Envoy's <c>/memory</c> in the garbage collector's terms: bytes in live objects and in the heap, what the heap has
    /// committed, the collections made to give committed memory back (<see cref="Hosting.HeapRelease"/>), and the process's
    /// resident set (the heap, the runtime's own memory and the code pages it touched).
    /// </summary>
    private static string Memory()
    {
        var gc = GC.GetGCMemoryInfo();
        return string.Create(CultureInfo.InvariantCulture,
            $"{{\"allocated\":{GC.GetTotalMemory(false)},\"heap_size\":{gc.HeapSizeBytes},\"heap_committed\":{gc.TotalCommittedBytes},\"fragmented\":{gc.FragmentedBytes},\"collections\":[{GC.CollectionCount(0)},{GC.CollectionCount(1)},{GC.CollectionCount(2)}],\"releases\":{Hosting.HeapRelease.Releases},\"last_release_us\":{Hosting.HeapRelease.LastReleaseMicroseconds},\"total_physical_bytes\":{Environment.WorkingSet}}}\n");
    }

    public async Task HandleHealthAsync(HttpContext context)
    {
        if (!Ready)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await Text(context, config.Current is null ? "no configuration from the control plane yet\n" : "no workload certificate yet\n", "text/plain");
            return;
        }

        await Text(context, "ready\n", "text/plain");
    }

    private string ConfigDump()
    {
        var snapshot = config.Current;
        var cert = certificates?.Current;
        var text = new StringBuilder();
        text.Append("{\n\"version\": \"").Append(snapshot?.Version ?? "").Append("\",\n");
        if (cert is not null)
        {
            text.Append("\"certificate\": {\"identity\": \"").Append(certificates!.Identity).Append("\", \"notAfter\": \"").Append(cert.NotAfter.ToString("u", System.Globalization.CultureInfo.InvariantCulture)).Append("\"},\n");
        }

        text.Append("\"config\": ").Append(snapshot is null ? "null" : Json.Format(snapshot.Config)).Append("\n}\n");
        return text.ToString();
    }

    /// <summary>One line per endpoint, as Envoy's /clusters prints them: cluster::address::field::value.</summary>
    private string Clusters()
    {
        var snapshot = config.Current;
        if (snapshot is null)
        {
            return "";
        }

        var now = UpstreamEndpoint.Now;
        var text = new StringBuilder();
        foreach (var route in snapshot.Routes.OrderBy(r => r.Hostname, StringComparer.Ordinal).ThenBy(r => r.Port))
        {
            var cluster = $"outbound|{route.Port}||{route.Hostname}";
            foreach (var e in route.Picker.Endpoints)
            {
                var prefix = $"{cluster}::{e.Address}:{e.Port}";
                text.Append(prefix).Append("::weight::").Append(e.Weight).Append('\n');
                text.Append(prefix).Append("::health_flags::").Append(e.IsEjected(now) ? "/failed_outlier_check" : "healthy").Append('\n');
                text.Append(prefix).Append("::rq_active::").Append(e.ActiveRequests).Append('\n');
                text.Append(prefix).Append("::via_gateway::").Append(e.ViaGateway ? "true" : "false").Append('\n');
                text.Append(prefix).Append("::cluster::").Append(e.Cluster).Append('\n');
                text.Append(prefix).Append("::network::").Append(e.Network).Append('\n');
            }
        }

        return text.ToString();
    }

    private static async Task Text(HttpContext context, string body, string contentType)
    {
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(body);
    }
}
