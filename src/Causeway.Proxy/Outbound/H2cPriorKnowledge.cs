using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Causeway.Proxy.Outbound;

/// <summary>
/// Lets one plaintext port serve HTTP/1.1 and HTTP/2 with prior knowledge (h2c), as Envoy's codec detection does.
/// Kestrel chooses HTTP/2 on an Http1AndHttp2 endpoint only when TLS negotiated "h2"; this middleware reads the
/// first bytes without consuming them and, when they are the HTTP/2 connection preface, tells Kestrel so through the
/// same features a TLS handshake would set.
/// </summary>
public static class H2cPriorKnowledge
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(connection.ConnectionClosed);
            var buffer = result.Buffer;
            var verdict = Compare(buffer);
            if (verdict is not null || result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start, buffer.Start);
                if (verdict == true)
                {
                    connection.Features.Set<ITlsConnectionFeature>(new Marker());
                    connection.Features.Set<ITlsApplicationProtocolFeature>(new Marker());
                }

                break;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }

        await next(connection);
    };

    /// <summary>True for the preface, false as soon as a byte differs, null while the bytes so far are a prefix of it.</summary>
    internal static bool? Compare(ReadOnlySequence<byte> buffer)
    {
        var preface = Http2.Http2Connection.ClientPreface;
        var length = (int)Math.Min(buffer.Length, preface.Length);
        Span<byte> head = stackalloc byte[24];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(preface[..length]))
        {
            return false;
        }

        return length == preface.Length ? true : null;
    }

    private sealed class Marker : ITlsConnectionFeature, ITlsApplicationProtocolFeature
    {
        public System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate { get; set; }

        public ReadOnlyMemory<byte> ApplicationProtocol => "h2"u8.ToArray();

        public Task<System.Security.Cryptography.X509Certificates.X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) =>
            Task.FromResult<System.Security.Cryptography.X509Certificates.X509Certificate2?>(null);
    }
}
