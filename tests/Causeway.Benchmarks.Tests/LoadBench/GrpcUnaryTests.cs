using System.Buffers.Binary;
using System.Net;
using Causeway.LoadBench.Load;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Causeway.Benchmarks.Tests.LoadBench;

/// <summary>
/// B4's gRPC call: the frame is what a gRPC peer parses, and the check that runs before every measured run refuses
/// each way a proxy could spoil a call while h2load still counts a 200.
/// </summary>
public class GrpcUnaryTests
{
    [Theory]
    [InlineData(1024)]
    [InlineData(100)]
    [InlineData(20000)]
    public void TheFrameHoldsOneMessageOfTheSizeAsked(int size)
    {
        var frame = GrpcUnary.Frame(size);
        Assert.Equal(5 + size, frame.Length);
        Assert.Equal(0, frame[0]);
        Assert.Equal((uint)size, BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(1)));

        // Field 1, length-delimited, whose varint length covers the rest of the message exactly.
        Assert.Equal(0x0A, frame[5]);
        var (length, at) = (0, 6);
        for (var shift = 0; ; shift += 7)
        {
            var b = frame[at++];
            length |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                break;
            }
        }

        Assert.Equal(frame.Length - at, length);
    }

    [Theory]
    [InlineData("whole", null)]
    [InlineData("no-trailers", "no grpc-status trailer")]
    [InlineData("status-in-headers", "grpc-status in the headers, not the trailers")]
    [InlineData("failed", "grpc-status 13")]
    [InlineData("short", "a body of 1028 bytes, not the 1029-byte frame the backend sends")]
    [InlineData("octet-stream", "content-type application/octet-stream")]
    [InlineData("unavailable", "HTTP 503")]
    public async Task TheCheckAcceptsOnlyWhatAGrpcClientAccepts(string answer, string? expected)
    {
        var frame = GrpcUnary.Frame(1024);
        await using var backend = await StartAsync(answer, frame);
        var entry = new IPEndPoint(IPAddress.Loopback, backend.Port);

        Assert.Equal(expected, await GrpcUnary.CheckAsync(entry, "backend-grpc.bench:8081", frame, frame, TimeSpan.FromSeconds(10)));
        Assert.Equal(["POST /bench.Echo/Unary backend-grpc.bench:8081 application/grpc trailers 1029"], backend.Seen);
    }

    [Fact]
    public async Task NothingListeningIsAFailureNotAnException()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var reason = await GrpcUnary.CheckAsync(new IPEndPoint(IPAddress.Loopback, port), "x", [], [], TimeSpan.FromSeconds(5));
        Assert.NotNull(reason);
    }

    private static async Task<Backend> StartAsync(string answer, byte[] frame)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        var seen = new List<string>();
        app.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            lock (seen)
            {
                seen.Add($"{context.Request.Method} {context.Request.Path} {context.Request.Host} {context.Request.ContentType} {context.Request.Headers.TE} {body.Length}");
            }

            var response = context.Response;
            response.StatusCode = answer == "unavailable" ? 503 : 200;
            response.ContentType = answer == "octet-stream" ? "application/octet-stream" : "application/grpc";
            if (answer == "status-in-headers")
            {
                response.Headers["grpc-status"] = "0";
            }

            await response.Body.WriteAsync(answer == "short" ? frame.AsMemory(0, frame.Length - 1) : frame);
            if (answer is "whole" or "failed" or "short" or "octet-stream" or "unavailable")
            {
                response.AppendTrailer("grpc-status", answer == "failed" ? "13" : "0");
            }
        });
        await app.StartAsync();
        var port = new Uri(app.Urls.First()).Port;
        return new Backend(app, port, seen);
    }

    private sealed record Backend(WebApplication App, int Port, List<string> Seen) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await App.DisposeAsync();
    }
}
