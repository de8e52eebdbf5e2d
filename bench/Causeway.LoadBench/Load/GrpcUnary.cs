using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;

namespace Causeway.LoadBench.Load;

/// <summary>
/// B4's gRPC unary call: one length-prefixed protobuf message each way (a <c>bytes</c> field filling the body size),
/// as h2load sends it and the backend answers it with <c>grpc-status: 0</c> in the trailers; and one call made and
/// checked the way a gRPC client judges it, since h2load counts HTTP statuses only and a proxy that lost the trailers
/// would still look successful to it.
/// </summary>
public static class GrpcUnary
{
    /// <summary>The service's part of the path: where the backend answers its calls.</summary>
    public const string ServicePath = "/bench.Echo/";

    /// <summary>The method's name: the file the backend answers with.</summary>
    public const string Method = "Unary";

    /// <summary>The method's path, as a gRPC client derives it from the service and method names.</summary>
    public const string Path = ServicePath + Method;

    /// <summary>The request headers a gRPC client sends besides the pseudo-headers (h2load's <c>-H</c>).</summary>
    public static readonly string[] RequestHeaders = ["content-type: application/grpc", "te: trailers"];

    /// <summary>A gRPC frame (flag 0, big-endian length) around a message of exactly <paramref name="messageBytes"/> bytes.</summary>
    public static byte[] Frame(int messageBytes)
    {
        // Field 1, wire type 2: the tag, the payload's length as a varint, then the payload fill the message.
        var payload = messageBytes - 2;
        while (payload > 0 && 1 + VarintLength(payload) + payload > messageBytes)
        {
            payload--;
        }

        if (payload <= 0 || 1 + VarintLength(payload) + payload != messageBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(messageBytes), messageBytes, "a gRPC message of this size cannot be one bytes field");
        }

        var frame = new byte[5 + messageBytes];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)messageBytes);
        var at = 5;
        frame[at++] = 0x0A;
        for (var v = (uint)payload; ; v >>= 7)
        {
            frame[at++] = (byte)(v < 0x80 ? v : (v & 0x7F) | 0x80);
            if (v < 0x80)
            {
                break;
            }
        }

        frame.AsSpan(at).Fill((byte)'x');
        return frame;
    }

    /// <summary>
    /// One call over cleartext HTTP/2 (prior knowledge) to <paramref name="entry"/>; null when the answer is what a gRPC
    /// client accepts (200, <c>application/grpc</c>, the expected frame, <c>grpc-status: 0</c> in the trailers),
    /// otherwise what was wrong.
    /// </summary>
    public static async Task<string?> CheckAsync(IPEndPoint entry, string authority, byte[] request, byte[] expected, TimeSpan timeout)
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = timeout };
        using var message = new HttpRequestMessage(HttpMethod.Post, $"http://{entry}{Path}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(request),
        };
        message.Headers.Host = authority;
        message.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        try
        {
            using var response = await client.SendAsync(message);
            var body = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return $"HTTP {(int)response.StatusCode}";
            }

            if (response.Content.Headers.ContentType?.MediaType != "application/grpc")
            {
                return $"content-type {response.Content.Headers.ContentType?.ToString() ?? "missing"}";
            }

            if (!body.AsSpan().SequenceEqual(expected))
            {
                return $"a body of {body.Length} bytes, not the {expected.Length}-byte frame the backend sends";
            }

            return response.TrailingHeaders.TryGetValues("grpc-status", out var status)
                ? string.Join(",", status) == "0" ? null : $"grpc-status {string.Join(",", status)}"
                : response.Headers.Contains("grpc-status") ? "grpc-status in the headers, not the trailers" : "no grpc-status trailer";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return e.Message;
        }
    }

    private static int VarintLength(int value) => value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : 4;
}
