using Causeway.Api.V1;
using Causeway.ControlPlane.Certificates;
using Causeway.ControlPlane.Security;
using Causeway.Core.Client;
using Causeway.Core.Resources;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Causeway.ControlPlane.Registry;

/// <summary>Serves registry.proto to the CLI (admin tokens) and to peer control planes (reader tokens).</summary>
public sealed class RegistryService(
    ControlPlaneOptions options,
    LocalRegistry local,
    CallerAuthentication auth,
    AccessTokens tokens,
    ClusterCa ca,
    IHostApplicationLifetime lifetime,
    ILogger<RegistryService> logger) : Api.V1.Registry.RegistryBase
{
    public override Task<ApplyResponse> Apply(ApplyRequest request, ServerCallContext context)
    {
        auth.Require(context, AccessGrant.Admin);
        var resources = new List<Resource>();
        var errors = new List<string>();
        foreach (var doc in request.Resources)
        {
            try
            {
                resources.Add(WireDocuments.FromDocument(doc));
            }
            catch (InvalidResourceException e)
            {
                errors.Add(e.Message);
            }
        }

        if (errors.Count > 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, string.Join("\n", errors)));
        }

        var response = new ApplyResponse();
        foreach (var outcome in local.Apply(resources, request.DryRun))
        {
            response.Results.Add(new ApplyResult { Ref = Ref(outcome.Key), Outcome = outcome.Outcome, ResourceVersion = outcome.ResourceVersion });
        }

        return Task.FromResult(response);
    }

    public override Task<ResourceDocument> Get(ResourceRef request, ServerCallContext context)
    {
        var grant = auth.Require(context, AccessGrant.Admin, AccessGrant.Reader);
        var kind = Kind(request.Kind);
        var key = new ResourceKey(kind.Name, kind.Namespaced ? request.Namespace : "", request.Name);
        if (!local.Current.TryGetValue(key, out var resource) || !Visible(resource, grant))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"{key} not found in cluster {options.Cluster}"));
        }

        return Task.FromResult(WireDocuments.ToDocument(resource));
    }

    public override Task<ListResponse> List(ListRequest request, ServerCallContext context)
    {
        var grant = auth.Require(context, AccessGrant.Admin, AccessGrant.Reader);
        var kind = request.Kind.Length == 0 ? null : Kind(request.Kind);
        LabelSelectorExpression selector;
        try
        {
            selector = LabelSelectorExpression.Parse(request.LabelSelector);
        }
        catch (FormatException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }

        var response = new ListResponse { Revision = local.Revision };
        foreach (var resource in local.Current.Values.OrderBy(r => r.Kind).ThenBy(r => r.Key.Namespace).ThenBy(r => r.Key.Name))
        {
            if ((kind is null || resource.Kind == kind.Name) &&
                (request.Namespace.Length == 0 || resource.Key.Namespace == request.Namespace || resource.Key.Namespace.Length == 0) &&
                selector.Matches(resource.Metadata.Labels) && Visible(resource, grant))
            {
                response.Resources.Add(WireDocuments.ToDocument(resource));
            }
        }

        return Task.FromResult(response);
    }

    public override Task<DeleteResponse> Delete(ResourceRef request, ServerCallContext context)
    {
        auth.Require(context, AccessGrant.Admin);
        var kind = Kind(request.Kind);
        var deleted = local.Delete([new ResourceKey(kind.Name, kind.Namespaced ? request.Namespace : "", request.Name)]);
        return Task.FromResult(new DeleteResponse { Deleted = deleted.Count > 0 });
    }

    public override async Task Watch(WatchRequest request, IServerStreamWriter<WatchEvent> responseStream, ServerCallContext context)
    {
        auth.Require(context, AccessGrant.Admin, AccessGrant.Reader);
        var (snapshot, changes, unsubscribe) = local.Watch();
        logger.LogInformation("{Watcher} watches this cluster's registry", request.Watcher.Length > 0 ? request.Watcher : "a client");
        try
        {
            long revision = 0;
            foreach (var resource in snapshot.Values)
            {
                if (!ResourceKinds.Find(resource.Kind)!.Secret)
                {
                    revision = Math.Max(revision, resource.Metadata.ResourceVersion ?? 0);
                    await responseStream.WriteAsync(new WatchEvent { Type = WatchEvent.Types.EventType.Added, Resource = WireDocuments.ToDocument(resource), Revision = revision });
                }
            }

            await responseStream.WriteAsync(new WatchEvent { Type = WatchEvent.Types.EventType.Synced, Revision = revision });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
            await foreach (var change in changes.ReadAllAsync(stop.Token))
            {
                if (ResourceKinds.Find(change.Resource.Kind)!.Secret)
                {
                    continue;
                }

                var type = change.Type switch
                {
                    RegistryChangeType.Added => WatchEvent.Types.EventType.Added,
                    RegistryChangeType.Modified => WatchEvent.Types.EventType.Modified,
                    _ => WatchEvent.Types.EventType.Deleted,
                };
                await responseStream.WriteAsync(new WatchEvent { Type = type, Resource = WireDocuments.ToDocument(change.Resource), Revision = change.Revision });
            }
        }
        catch (InvalidOperationException e)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, e.Message));
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the control plane is stopping"));
        }
        finally
        {
            unsubscribe();
        }
    }

    public override Task<ClusterInfoResponse> ClusterInfo(ClusterInfoRequest request, ServerCallContext context)
    {
        auth.Require(context, AccessGrant.Admin, AccessGrant.Reader, AccessGrant.Workload);
        return Task.FromResult(new ClusterInfoResponse
        {
            Cluster = options.Cluster,
            Network = options.Network,
            MeshId = options.MeshId,
            Revision = options.Revision,
            TrustDomain = options.TrustDomain,
            RootPem = ca.Current.TrustBundlePem,
            RevisionCounter = local.Revision,
        });
    }

    public override Task<IssueTokenResponse> IssueToken(IssueTokenRequest request, ServerCallContext context)
    {
        auth.Require(context, AccessGrant.Admin);
        var validity = request.ValiditySeconds > 0 ? TimeSpan.FromSeconds(request.ValiditySeconds) : TimeSpan.FromDays(365);
        var token = request.Scope switch
        {
            AccessGrant.Admin or AccessGrant.Reader => tokens.Issue(request.Scope, validity),
            AccessGrant.Workload when request.Namespace.Length > 0 && request.ServiceAccount.Length > 0 =>
                tokens.Issue(AccessGrant.Workload, validity, request.Namespace, request.ServiceAccount),
            AccessGrant.Workload => throw new RpcException(new Status(StatusCode.InvalidArgument, "a workload token needs a namespace and a service account")),
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"unknown scope '{request.Scope}'; use admin, reader or workload")),
        };
        return Task.FromResult(new IssueTokenResponse { Token = token });
    }

    private static ResourceKind Kind(string name) =>
        ResourceKinds.Find(name) ?? throw new RpcException(new Status(StatusCode.InvalidArgument, $"unknown kind '{name}'; Causeway knows {ResourceKinds.Names}"));

    private static bool Visible(Resource resource, AccessGrant grant) =>
        grant.Scope == AccessGrant.Admin || !ResourceKinds.Find(resource.Kind)!.Secret;

    private static ResourceRef Ref(ResourceKey key) => new() { Kind = key.Kind, Namespace = key.Namespace, Name = key.Name };
}
