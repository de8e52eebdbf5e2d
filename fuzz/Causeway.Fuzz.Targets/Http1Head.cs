using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http;

namespace Causeway.Fuzz;

/// <summary>Runs Kestrel's request-head parser over bytes and writes down what it reported, as one comparable string.</summary>
internal sealed class Http1Head : IHttpRequestLineHandler, IHttpHeadersHandler
{
    private static readonly HttpParser<Http1Head> Parser = CreateParser();

    private readonly StringBuilder _events = new();

    /// <summary>"line ...|header ...|...|complete at N", "...|incomplete" where it ran out, or "...|refused".</summary>
    public static string Parse(ReadOnlySequence<byte> bytes)
    {
        var head = new Http1Head();
        var reader = new SequenceReader<byte>(bytes);
        try
        {
            if (!Parser.ParseRequestLine(head, ref reader))
            {
                return head._events.Append("incomplete").ToString();
            }

            return head._events.Append(Parser.ParseHeaders(head, ref reader) ? $"complete at {reader.Consumed}" : "incomplete").ToString();
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            // Not the message: it quotes as much of the bad line as had arrived, which differs with the segmenting.
            return head._events.Append("refused").ToString();
        }
    }

    public void OnStartLine(HttpVersionAndMethod versionAndMethod, TargetOffsetPathLength targetPath, Span<byte> startLine)
    {
        // The whole target, query included (targetPath.Length covers the path only; the start line ends with the target).
        var target = Encoding.Latin1.GetString(startLine[targetPath.Offset..]);
        _events.Append(Proxy.Http.RequestTarget.IsClean(target) ? $"line {versionAndMethod.Method} {versionAndMethod.Version} target {target} encoded {targetPath.IsEncoded}|" : "line refused by the proxy|");
    }

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        _events.Append($"header {Encoding.Latin1.GetString(name)}: {Encoding.Latin1.GetString(value)}|");

    public void OnHeadersComplete(bool endStream) => _events.Append("end|");

    public void OnStaticIndexedHeader(int index) => _events.Append($"static {index}|");

    public void OnStaticIndexedHeader(int index, ReadOnlySpan<byte> value) => _events.Append($"static {index}: {Encoding.Latin1.GetString(value)}|");

    private static HttpParser<Http1Head> CreateParser()
    {
        // The switch every Causeway proxy sets (ProxyServer): bare LF ends nothing.
        AppContext.SetSwitch("Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators", true);
        return new HttpParser<Http1Head>(showErrorDetails: true);
    }
}
