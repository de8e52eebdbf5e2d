using System.Buffers;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Resources;
using Causeway.Core.Security;
using Causeway.Proxy.Gateway;
using Causeway.Proxy.Http1;
using Causeway.Proxy.Http2.Hpack;
using Causeway.Proxy.Outbound;

namespace Causeway.Fuzz;

/// <summary>
/// What each fuzz target feeds its input to, and which exceptions are that code's documented way of refusing it.
/// Any other exception, or a broken invariant, is a finding: AFL++ records it as a crash, and the replay test
/// (tests/Causeway.Fuzz.Tests) runs every kept input through the same method.
/// </summary>
public static class FuzzTargets
{
    private static readonly Lazy<ECDsa> CsrKey = new(() => ECDsa.Create(ECCurve.NamedCurves.nistP256));

    private static readonly Lazy<CertificateAuthority> Ca = new(() =>
    {
        using var root = CertificateAuthority.CreateRoot("Causeway fuzz");
        return root.CreateIntermediate("fuzz");
    });

    /// <summary>The target names, as a constant: the harness checks a name before any code of this assembly may run.</summary>
    public const string Names = "clienthello san csr resource http1head connecthead directhead hpack";

    /// <summary>The target names fuzz/run accepts, each with the method it drives.</summary>
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>
    {
        ["clienthello"] = ClientHello,
        ["san"] = SubjectAltName,
        ["csr"] = Csr,
        ["resource"] = Resource,
        ["http1head"] = Http1RequestHead,
        ["connecthead"] = ConnectHead,
        ["directhead"] = DirectHead,
        ["hpack"] = Hpack,
    };

    /// <summary>
    /// The direct HTTP/2 path's HPACK decoder (RFC 7541), which reads every header block a client or an upstream sends:
    /// it never throws; a block it takes whole stays within the list limit; and what it decoded, written again by the
    /// proxy's encoder and decoded afresh, is the same fields. The input is two blocks, split at its first byte's
    /// value, so that the second decodes against the dynamic table the first left.
    /// </summary>
    public static void Hpack(byte[] data)
    {
        const int limit = 16 * 1024;
        var decoder = new HpackDecoder();
        using var fields = new HeaderList();
        var split = data.Length == 0 ? 0 : Math.Min(data[0], data.Length - 1);
        var blocks = data.Length == 0 ? [[]] : new[] { data[1..(1 + split)], data[(1 + split)..] };
        foreach (var block in blocks)
        {
            var result = decoder.Decode(block, fields, limit);
            if (result == HpackResult.Invalid)
            {
                return;
            }

            if (fields.ListSize > limit)
            {
                throw new InvalidOperationException($"{fields.ListSize} bytes of fields kept against a limit of {limit}");
            }

            var encoded = new byte[fields.ListSize * 2 + 16];
            var n = 0;
            for (var i = 0; i < fields.Count; i++)
            {
                n += HpackEncoder.WriteLiteral(fields.Name(i), fields.Value(i), encoded.AsSpan(n));
            }

            using var again = new HeaderList();
            if (new HpackDecoder().Decode(encoded.AsSpan(0, n), again, int.MaxValue) != HpackResult.Complete || again.Count != fields.Count)
            {
                throw new InvalidOperationException("the proxy's encoding of decoded fields does not decode to them");
            }

            for (var i = 0; i < fields.Count; i++)
            {
                if (!again.Name(i).SequenceEqual(fields.Name(i)) || !again.Value(i).SequenceEqual(fields.Value(i)))
                {
                    throw new InvalidOperationException($"field {i} changed in a round trip");
                }
            }
        }
    }

    /// <summary>
    /// The gateway's ClientHello parser: never throws, and reads the same hello whether the bytes arrive in one
    /// buffer or in three (as TCP may deliver them).
    /// </summary>
    public static void ClientHello(byte[] data)
    {
        Span<byte> whole = stackalloc byte[ClientHelloParser.MaxServerName];
        Span<byte> split = stackalloc byte[ClientHelloParser.MaxServerName];
        var one = ClientHelloParser.TryParse(new ReadOnlySequence<byte>(data), 32 * 1024, whole, out var a, out _);
        var three = ClientHelloParser.TryParse(Segments(data), 32 * 1024, split, out var b, out _);
        if (one != three)
        {
            throw new InvalidOperationException($"one buffer says {one}, three segments say {three}");
        }

        if (one == ClientHelloStatus.Complete && (a.ServerNameLength != b.ServerNameLength || !whole[..a.ServerNameLength].SequenceEqual(split[..b.ServerNameLength]) || a.OffersMeshProtocol != b.OffersMeshProtocol))
        {
            throw new InvalidOperationException("one buffer and three segments read different hellos");
        }
    }

    /// <summary>The subjectAltName reader and the strict SPIFFE ID check behind every peer identity.</summary>
    public static void SubjectAltName(byte[] data)
    {
        IReadOnlyList<string> uris;
        try
        {
            uris = UriSubjectAlternativeNames.Read(data);
        }
        catch (AsnContentException)
        {
            return;
        }

        if (WorkloadIdentity.TryFromUris(uris, SpiffeId.DefaultTrustDomain, out var id, out _) && id.ToString() != uris[0])
        {
            throw new InvalidOperationException($"'{uris[0]}' was accepted as '{id}'");
        }
    }

    /// <summary>
    /// The CA's CSR check behind the signature: the input is a subjectAltName extension, which the harness puts in a
    /// CSR and signs (a mutated CSR would only ever exercise the signature check). The CA signs for exactly the
    /// caller's identity or refuses with <see cref="UnauthorizedAccessException"/>, nothing else.
    /// </summary>
    public static void Csr(byte[] data)
    {
        var allowed = new SpiffeId(SpiffeId.DefaultTrustDomain, "sample", "sleep");
        var request = new CertificateRequest("", CsrKey.Value, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension(UriSubjectAlternativeNames.Oid, data, critical: true));
        try
        {
            var chain = Ca.Value.SignWorkload(request.CreateSigningRequestPem(), allowed);
            if (!WorkloadIdentity.TryRead(chain[0], SpiffeId.DefaultTrustDomain, out var issued, out var error) || issued != allowed)
            {
                throw new InvalidOperationException($"the CA issued a certificate for something other than {allowed}: {error}");
            }
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The resource parser behind 'causeway apply' and the registry API: a resource or <see cref="InvalidResourceException"/>.</summary>
    public static void Resource(byte[] data)
    {
        try
        {
            ResourceDocuments.ParseYaml(Encoding.UTF8.GetString(data));
        }
        catch (InvalidResourceException)
        {
        }
    }

    /// <summary>
    /// Kestrel's HTTP/1.1 request-head parser, as every sidecar listener runs it (bare LF refused): it returns a head,
    /// asks for more bytes, or refuses with BadHttpRequestException; the head it returns holds no CR or LF in a target,
    /// name or value, and is the same whether the bytes came in one buffer or three (a parser that splits
    /// differently is how smuggling starts).
    /// </summary>
    public static void Http1RequestHead(byte[] data)
    {
        var one = Http1Head.Parse(new ReadOnlySequence<byte>(data));
        var three = Http1Head.Parse(Segments(data));

        // A refused head is refused whole: how many headers were reported before the refusal does not matter.
        var refused = one.EndsWith("refused", StringComparison.Ordinal);
        if (refused != three.EndsWith("refused", StringComparison.Ordinal) || (!refused && one != three))
        {
            throw new InvalidOperationException($"one buffer read [{one}], three segments read [{three}]");
        }

        // Framing is the parser's: no CR or LF inside a target, name or value. NUL and other controls are refused one
        // step later, when Kestrel stores the header (400; SidecarHostileInputTests' NUL cases hold the proxy to that).
        if (one.IndexOfAny(['\r', '\n']) >= 0)
        {
            throw new InvalidOperationException($"a parsed head holds CR or LF: {one}");
        }
    }

    /// <summary>
    /// The outbound port's own CONNECT head parser, against Kestrel's (reliability F3): the same answer from one
    /// buffer and three; and a head it accepts is one Kestrel also reads whole, as a CONNECT to the same authority,
    /// ending at the same byte. Stricter than Kestrel is allowed; looser, or a different boundary, is a finding.
    /// </summary>
    public static void ConnectHead(byte[] data)
    {
        var one = ConnectRequestHead.TryParse(new ReadOnlySequence<byte>(data), ConnectTunnel.MaxHeadBytes, out var authority, out var length);
        var three = ConnectRequestHead.TryParse(Segments(data), ConnectTunnel.MaxHeadBytes, out var authority3, out var length3);
        if (one != three || authority != authority3 || length != length3)
        {
            throw new InvalidOperationException($"one buffer: {one} '{authority}' {length}; three segments: {three} '{authority3}' {length3}");
        }

        if (one != ConnectHeadStatus.Complete)
        {
            return;
        }

        var kestrel = Http1Head.Parse(new ReadOnlySequence<byte>(data));
        if (!kestrel.StartsWith($"line Connect ", StringComparison.Ordinal) || !kestrel.Contains($" target {authority} ", StringComparison.Ordinal) || !kestrel.EndsWith($"complete at {length}", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Causeway read CONNECT '{authority}' ending at {length}; Kestrel read [{kestrel}]");
        }
    }

    /// <summary>
    /// The sidecar's direct HTTP/1.1 path (<see cref="RequestHeadParser"/>) against Kestrel's parser: a head it takes is
    /// one Kestrel also reads whole, as HTTP/1.1, ending at the same byte, with the same target and Host; and the head it
    /// writes for the upstream reads back as the same request, which Kestrel reads too. Stricter than Kestrel is allowed
    /// (what it does not take goes to Kestrel); looser, or a different boundary, is a finding.
    /// </summary>
    public static void DirectHead(byte[] data)
    {
        var limits = new Http1Limits();
        if (RequestHeadParser.TryParse(data, limits, out var head) != HeadStatus.Complete)
        {
            return;
        }

        var line = data.AsSpan(0, data.AsSpan().IndexOf("\r\n"u8));
        var target = Encoding.Latin1.GetString(line[(line.IndexOf((byte)' ') + 1)..line.LastIndexOf((byte)' ')]);
        var host = Encoding.Latin1.GetString(data.AsSpan()[head.Host]);
        var kestrel = Http1Head.Parse(new ReadOnlySequence<byte>(data));
        if (!kestrel.EndsWith($"complete at {head.Length}", StringComparison.Ordinal) || !kestrel.Contains($" Http11 target {target} encoded ", StringComparison.Ordinal) ||
            !kestrel.Contains($": {host}|", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the direct path read a head of {head.Length} bytes, target '{target}', Host '{host}'; Kestrel read [{kestrel}]");
        }

        var upstream = new byte[head.Length];
        var written = RequestHeadParser.WriteUpstream(data, head, [], upstream);
        if (RequestHeadParser.TryParse(upstream.AsSpan(0, written), limits, out var again) != HeadStatus.Complete || again.Length != written ||
            again.ContentLength != head.ContentLength || !upstream.AsSpan()[again.Host].SequenceEqual(data.AsSpan()[head.Host]) ||
            !upstream.AsSpan()[again.PathAndQuery].SequenceEqual(data.AsSpan()[head.PathAndQuery]) || !upstream.AsSpan()[again.Method].SequenceEqual(data.AsSpan()[head.Method]))
        {
            throw new InvalidOperationException($"the head written upstream does not read back as the same request: [{Encoding.Latin1.GetString(upstream, 0, written)}]");
        }

        if (!Http1Head.Parse(new ReadOnlySequence<byte>(upstream, 0, written)).EndsWith($"complete at {written}", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Kestrel does not read the head written upstream: [{Encoding.Latin1.GetString(upstream, 0, written)}]");
        }
    }

    /// <summary>The same bytes as three linked segments, cut at a third and two thirds.</summary>
    private static ReadOnlySequence<byte> Segments(byte[] data)
    {
        var (i, j) = (data.Length / 3, 2 * data.Length / 3);
        var first = new Segment(data.AsMemory(0, i), 0);
        var second = first.Append(data.AsMemory(i, j - i));
        var third = second.Append(data.AsMemory(j));
        return new ReadOnlySequence<byte>(first, 0, third, third.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
