using Causeway.ControlPlane.Discovery;
using Causeway.ControlPlane.Registry;
using Causeway.ControlPlane.Topology;
using Causeway.Core.Resources;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Causeway.ControlPlane.Admin;

/// <summary>The plain-HTTP pages on 15014: readiness, Prometheus metrics and the debug pages operators read.</summary>
public static class MonitoringEndpoints
{
    /// <summary>Istio's PILOT_REMOTE_CLUSTER_TIMEOUT: how long readiness waits for remote clusters to sync.</summary>

    public static void Map(WebApplication app, ControlPlaneOptions options, MeshRegistry mesh, PushScheduler scheduler, ConnectedProxies proxies, ControlPlaneMetrics metrics, DateTimeOffset started)
    {
        app.MapGet("/ready", () => Ready(mesh, started, options.RemoteSyncTimeout));
        app.MapGet("/healthz/ready", () => Ready(mesh, started, options.RemoteSyncTimeout));
        app.MapGet("/metrics", () => Results.Text(Metrics(mesh, scheduler, metrics), "text/plain; version=0.0.4"));
        app.MapGet("/debug/syncz", () => Results.Json(proxies.All.Select(p => new
        {
            proxy = p.Node.Id,
            workload = p.Node.WorkloadName,
            @namespace = p.Node.Namespace,
            serviceAccount = p.Node.ServiceAccount,
            network = p.Node.Network,
            role = p.Node.Role.ToString(),
            revision = p.Node.Revision,
            connectedAt = p.ConnectedAt,
            lastSentVersion = p.LastSentVersion,
            lastSentAt = p.LastSentAt,
            lastAckedVersion = p.LastAckedVersion,
            lastAckedAt = p.LastAckedAt,
            lastNack = p.LastNack,
            status = p.Status,
        })));
        app.MapGet("/debug/clusterz", () => Results.Json(mesh.Current.Clusters.Select(c => ClusterStatus(c, scheduler.Current))));
        app.MapGet("/debug/endpointz", () => Results.Json(Endpointz(scheduler.Current, mesh.Current)));
        app.MapGet("/debug/registryz", () => Results.Json(mesh.Current.Local.Resources.Values
            .Where(r => !ResourceKinds.Find(r.Kind)!.Secret)
            .OrderBy(r => r.Kind).ThenBy(r => r.Key.Namespace).ThenBy(r => r.Key.Name)
            .Select(r => ResourceDocuments.ToNode(r))));
        app.MapGet("/", () => Results.Text($"causeway control plane: cluster {options.Cluster}, network {options.Network}, mesh {options.MeshId}, revision {options.Revision}\n" +
            "pages: /ready /metrics /debug/syncz /debug/clusterz /debug/endpointz /debug/registryz\n"));
    }

    private static IResult Ready(MeshRegistry mesh, DateTimeOffset started, TimeSpan remoteSyncTimeout)
    {
        var pending = mesh.Current.Remotes.Values.Where(r => !r.Synced).Select(r => r.Cluster).ToList();
        if (pending.Count == 0)
        {
            return Results.Text("ready\n");
        }

        return DateTimeOffset.UtcNow - started > remoteSyncTimeout
            ? Results.Text($"ready (remote clusters not synced after {remoteSyncTimeout.TotalSeconds}s: {string.Join(", ", pending)})\n")
            : Results.Text($"waiting for remote clusters to sync: {string.Join(", ", pending)}\n", statusCode: 503);
    }

    /// <summary>One cluster's sync status, as <c>causeway remote-clusters</c> prints it.</summary>
    public static object ClusterStatus(ClusterState c, MeshTopology topology) => new
    {
        cluster = c.Cluster,
        network = c.Network,
        local = c.IsLocal,
        secret = c.SecretName,
        status = c.IsLocal ? "local" : c.Stale ? "stale" : c.Synced ? "synced" : "syncing",
        resources = c.Resources.Count,
        endpoints = topology.Services.Values.Sum(s => s.Endpoints.Count(e => e.Cluster == c.Cluster)),
        lastUpdate = c.LastUpdate,
        ageSeconds = c.LastUpdate is { } t ? Math.Round((DateTimeOffset.UtcNow - t).TotalSeconds, 1) : (double?)null,
        error = c.Error,
    };

    private static object Endpointz(MeshTopology topology, MeshSnapshot snapshot) => new
    {
        version = topology.Version,
        gateways = topology.Gateways,
        services = topology.Services.Values.Select(s => new
        {
            hostname = s.Hostname,
            clusters = s.Clusters,
            ports = s.Ports,
            endpoints = s.Endpoints.Select(e => new
            {
                address = e.Address,
                ports = e.Ports,
                network = e.Network,
                cluster = e.Cluster,
                workload = e.WorkloadName,
                serviceAccount = e.ServiceAccount,
                healthy = e.Healthy,
                weight = e.Weight,
                stale = snapshot.Remotes.TryGetValue(e.Cluster, out var remote) && remote.Stale,
                staleSeconds = snapshot.Remotes.TryGetValue(e.Cluster, out var r) && r.Stale && r.LastUpdate is { } t ? Math.Round((DateTimeOffset.UtcNow - t).TotalSeconds, 1) : (double?)null,
            }),
        }),
    };

    private static string Metrics(MeshRegistry mesh, PushScheduler scheduler, ControlPlaneMetrics metrics)
    {
        var w = new PrometheusWriter();
        metrics.WriteTo(w);
        w.Counter("causeway_debounced_pushes_total", "Debounced pushes (one per burst of registry changes).", scheduler.Pushes);
        foreach (var group in mesh.Current.Local.Resources.Values.GroupBy(r => r.Kind).OrderBy(g => g.Key))
        {
            w.Gauge("causeway_registry_resources", "Resources in this cluster's registry, by kind.", group.Count(), ("kind", group.Key));
        }

        foreach (var remote in mesh.Current.Remotes.Values)
        {
            w.Gauge("causeway_remote_cluster_synced", "1 when the remote cluster's registry is synced and current.", remote.Synced && !remote.Stale ? 1 : 0, ("cluster", remote.Cluster));
            w.Gauge("causeway_remote_cluster_resources", "Resources known from the remote cluster.", remote.Resources.Count, ("cluster", remote.Cluster));
            if (remote.LastUpdate is { } t)
            {
                w.Gauge("causeway_remote_cluster_last_update_age_seconds", "Seconds since the remote cluster last sent a change or a list.", Math.Round((DateTimeOffset.UtcNow - t).TotalSeconds, 3), ("cluster", remote.Cluster));
            }
        }

        return w.ToString();
    }
}
