using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Causeway.Proxy.Tests.Integration;

/// <summary>A HelloWorld-like application: <c>/hello</c> answers its version and instance, <c>/whoami</c> shows what the sidecar told it.</summary>
internal sealed class TestApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _paths = new();
    private int _requests;
    private int _inFlight;
    private int _maxInFlight;

    private TestApp(WebApplication app) => _app = app;

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The most requests the application held at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Method and path of every request that reached the application.</summary>
    public IReadOnlyCollection<string> Seen => _paths;

    public static async Task<TestApp> StartAsync(IPAddress address, int port, string version, string instance, bool http2Only = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, port, l => l.Protocols = http2Only ? HttpProtocols.Http2 : HttpProtocols.Http1AndHttp2));
        var app = builder.Build();
        var result = new TestApp(app);
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref result._requests);
            result._paths.Enqueue($"{context.Request.Method} {context.Request.Path}");
            var now = Interlocked.Increment(ref result._inFlight);
            int max;
            while (now > (max = Volatile.Read(ref result._maxInFlight)) && Interlocked.CompareExchange(ref result._maxInFlight, now, max) != max)
            {
            }

            try
            {
                await next(context);
            }
            finally
            {
                Interlocked.Decrement(ref result._inFlight);
            }
        });
        // Exact and case-sensitive on purpose: what an AuthorizationPolicy path must protect (a case-insensitive
        // backend behind a DENY by path is the operator's risk, as in Istio).
        app.Use((context, next) => context.Request.Path.Value == "/private/secret" ? context.Response.WriteAsync("SECRET\n") : next(context));
        app.MapMethods("/hello", ["GET", "HEAD"], () => $"Hello version: {version}, instance: {instance}\n");
        app.MapGet("/slow", async (int ms) =>
        {
            await Task.Delay(ms);
            return $"slow {ms} ms from {instance}\n";
        });
        app.MapGet("/abort", (HttpContext c) => c.Abort());
        app.MapGet("/connection", (HttpContext c) => c.Connection.Id);
        app.MapPost("/echo", async (HttpContext c) =>
        {
            c.Response.ContentType = c.Request.ContentType ?? "application/octet-stream";
            await c.Request.Body.CopyToAsync(c.Response.Body);
        });
        app.MapGet("/chunked", async (HttpContext c, int n) =>
        {
            // No Content-Length and a flush per part: Kestrel sends it chunked.
            for (var i = 0; i < n; i++)
            {
                await c.Response.WriteAsync($"part {i}\n");
                await c.Response.Body.FlushAsync();
            }
        });
        app.MapGet("/cookies", (HttpContext c) => string.Join(" | ", c.Request.Headers.Cookie.ToArray()));
        app.MapGet("/whoami", (HttpContext c) => $"xfcc={c.Request.Headers["x-forwarded-client-cert"]} proto={c.Request.Protocol} host={c.Request.Host}\n");
        await app.StartAsync();
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
