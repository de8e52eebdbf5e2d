using Causeway.Api.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>A gRPC application (reusing the ClusterInfo call of the registry contract), h2c only, as gRPC apps in a mesh are.</summary>
internal sealed class GreeterService(string name) : Api.V1.Registry.RegistryBase
{
    public override Task<ClusterInfoResponse> ClusterInfo(ClusterInfoRequest request, ServerCallContext context)
    {
        context.ResponseTrailers.Add("served-by", name);
        return Task.FromResult(new ClusterInfoResponse { Cluster = name, Network = context.RequestHeaders.GetValue("x-forwarded-client-cert") ?? "" });
    }

    public static async Task<WebApplication> StartAsync(System.Net.IPAddress address, int port, string name)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new GreeterService(name));
        var app = builder.Build();
        app.MapGrpcService<GreeterService>();
        await app.StartAsync();
        return app;
    }
}
