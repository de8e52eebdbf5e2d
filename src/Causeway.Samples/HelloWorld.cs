using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Causeway.Samples;

/// <summary>
/// Istio's HelloWorld sample: <c>GET /hello</c> answers <c>Hello version: VERSION, instance: INSTANCE</c> and
/// <c>GET /health</c> answers <c>Helloworld is healthy</c>, on port 5000 by default.
/// </summary>
public static class HelloWorld
{
    public const int DefaultPort = 5000;

    public static string Reply(string version, string instance) => $"Hello version: {version}, instance: {instance}\n";

    public static async Task<WebApplication> StartAsync(IPAddress address, int port, string version, string instance, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(address, port, l => l.Protocols = HttpProtocols.Http1AndHttp2);
        });
        var app = builder.Build();
        app.MapGet("/hello", () => Reply(version, instance));
        app.MapGet("/health", () => "Helloworld is healthy");
        await app.StartAsync(cancellationToken);
        return app;
    }
}
