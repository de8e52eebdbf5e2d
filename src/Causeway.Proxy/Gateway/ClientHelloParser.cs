using System.Buffers;
using System.Buffers.Binary;

namespace Causeway.Proxy.Gateway;

/// <summary>
/// Reads a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3 SNI, RFC 7301 ALPN) without terminating TLS. The handshake
/// message may span several records. Every length is checked against what contains it; an SNI must be exactly one
/// host_name of printable ASCII; repeated extensions are refused. Nothing here trusts the peer. A ClientHello that
/// sits in one record of one buffer segment (the usual case) is parsed in place; otherwise it is reassembled in pooled
/// buffers. Either way nothing is allocated.
/// </summary>
public static class ClientHelloParser
{
    private const byte HandshakeRecord = 0x16;
    private const byte ClientHelloType = 0x01;
    private const int RecordHeader = 5;
    private const int MaxRecordPayload = 16384 + 2048;

    /// <summary>The largest SNI host name (RFC 6066 and DNS): the size a caller's buffer needs.</summary>
    public const int MaxServerName = 255;

    /// <summary>
    /// Parses what has arrived, writing the SNI host name to <paramref name="serverName"/> (at least
    /// <see cref="MaxServerName"/> bytes); <paramref name="reason"/> says what is wrong when the status is not Complete
    /// or Incomplete.
    /// </summary>
    public static ClientHelloStatus TryParse(ReadOnlySequence<byte> data, int maxBytes, Span<byte> serverName, out ClientHelloInfo hello, out string reason)
    {
        hello = default;
        reason = "";
        if (data.IsEmpty)
        {
            return ClientHelloStatus.Incomplete;
        }

        // Not FirstSpan[0]: a sequence may begin with an empty segment (found by fuzzing).
        if (!new SequenceReader<byte>(data).TryPeek(out var firstByte) || firstByte != HandshakeRecord)
        {
            reason = "the first byte is not a TLS handshake record";
            return ClientHelloStatus.NotTls;
        }

        // The common case: the whole message in the first record, and that whole record in the first segment. The
        // record must be whole, as the reassembling path below requires: the fuzzer found hellos that one buffer
        // called Complete or Malformed while the same bytes in three segments were still Incomplete.
        var first = data.FirstSpan;
        if (first.Length >= RecordHeader + 4 && first[1] == 0x03)
        {
            var recordLength = BinaryPrimitives.ReadUInt16BigEndian(first[3..]);
            var messageLength = (first[6] << 16) | (first[7] << 8) | first[8];
            if (first[5] == ClientHelloType && messageLength <= maxBytes && recordLength is > 0 and <= MaxRecordPayload &&
                messageLength + 4 <= recordLength && first.Length >= RecordHeader + recordLength)
            {
                return ParseBody(first.Slice(RecordHeader + 4, messageLength), serverName, out hello, out reason);
            }
        }

        var length = (int)Math.Min(data.Length, maxBytes + (RecordHeader * 8));
        var rented = ArrayPool<byte>.Shared.Rent(length);
        var handshake = ArrayPool<byte>.Shared.Rent(maxBytes + 4);
        try
        {
            data.Slice(0, length).CopyTo(rented);
            var bytes = rented.AsSpan(0, length);
            var assembled = 0;
            var offset = 0;
            int messageLength = -1;
            while (true)
            {
                if (messageLength >= 0 && assembled >= messageLength + 4)
                {
                    return ParseBody(handshake.AsSpan(4, messageLength), serverName, out hello, out reason);
                }

                if (bytes.Length - offset < RecordHeader)
                {
                    return TooLargeOrIncomplete(data.Length, maxBytes, ref reason);
                }

                var record = bytes.Slice(offset, RecordHeader);
                if (record[0] != HandshakeRecord || record[1] != 0x03)
                {
                    reason = record[0] != HandshakeRecord ? "a non-handshake record interrupts the ClientHello" : $"record version 0x{record[1]:x2}{record[2]:x2} is not TLS";
                    return ClientHelloStatus.Malformed;
                }

                var recordLength = BinaryPrimitives.ReadUInt16BigEndian(record[3..]);
                if (recordLength == 0 || recordLength > MaxRecordPayload)
                {
                    reason = $"record length {recordLength} is out of range";
                    return ClientHelloStatus.Malformed;
                }

                if (bytes.Length - offset - RecordHeader < recordLength)
                {
                    // The handshake header is in the first record's first bytes; check its type and size early.
                    if (messageLength < 0 && bytes.Length - offset - RecordHeader >= 4 && assembled == 0)
                    {
                        var header = bytes.Slice(offset + RecordHeader, 4);
                        if (header[0] != ClientHelloType)
                        {
                            reason = $"handshake type {header[0]} is not ClientHello";
                            return ClientHelloStatus.Malformed;
                        }

                        if (((header[1] << 16) | (header[2] << 8) | header[3]) > maxBytes)
                        {
                            reason = $"the ClientHello is longer than {maxBytes} bytes";
                            return ClientHelloStatus.TooLarge;
                        }
                    }

                    return TooLargeOrIncomplete(data.Length, maxBytes, ref reason);
                }

                var fragment = bytes.Slice(offset + RecordHeader, recordLength);
                if (assembled + fragment.Length > maxBytes + 4)
                {
                    reason = $"the ClientHello is longer than {maxBytes} bytes";
                    return ClientHelloStatus.TooLarge;
                }

                fragment.CopyTo(handshake.AsSpan(assembled));
                assembled += fragment.Length;
                offset += RecordHeader + recordLength;
                if (messageLength < 0 && assembled >= 4)
                {
                    if (handshake[0] != ClientHelloType)
                    {
                        reason = $"handshake type {handshake[0]} is not ClientHello";
                        return ClientHelloStatus.Malformed;
                    }

                    messageLength = (handshake[1] << 16) | (handshake[2] << 8) | handshake[3];
                    if (messageLength > maxBytes)
                    {
                        reason = $"the ClientHello is longer than {maxBytes} bytes";
                        return ClientHelloStatus.TooLarge;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
            ArrayPool<byte>.Shared.Return(handshake);
        }
    }

    private static ClientHelloStatus TooLargeOrIncomplete(long available, int maxBytes, ref string reason)
    {
        if (available > maxBytes + (RecordHeader * 8))
        {
            reason = $"the ClientHello is longer than {maxBytes} bytes";
            return ClientHelloStatus.TooLarge;
        }

        return ClientHelloStatus.Incomplete;
    }

    private static ClientHelloStatus ParseBody(ReadOnlySpan<byte> body, Span<byte> serverName, out ClientHelloInfo hello, out string reason)
    {
        hello = default;
        var r = new SpanReader(body);
        if (!r.Skip(2 + 32))
        {
            return Malformed("too short for version and random", out reason);
        }

        if (!r.ReadU8(out var sessionLength) || sessionLength > 32 || !r.Skip(sessionLength))
        {
            return Malformed("session id length is wrong", out reason);
        }

        if (!r.ReadU16(out var suitesLength) || suitesLength < 2 || suitesLength % 2 != 0 || !r.Skip(suitesLength))
        {
            return Malformed("cipher suites length is wrong", out reason);
        }

        if (!r.ReadU8(out var compressionLength) || compressionLength < 1 || !r.Skip(compressionLength))
        {
            return Malformed("compression methods length is wrong", out reason);
        }

        var nameLength = 0;
        var alpn = ApplicationProtocols.None;
        if (r.Remaining == 0)
        {
            reason = "";
            return ClientHelloStatus.Complete;
        }

        if (!r.ReadU16(out var extensionsLength) || extensionsLength != r.Remaining)
        {
            return Malformed("extensions length does not match the message", out reason);
        }

        Span<ushort> seen = stackalloc ushort[64];
        var seenCount = 0;
        while (r.Remaining > 0)
        {
            if (!r.ReadU16(out var type) || !r.ReadU16(out var length) || !r.Slice(length, out var ext))
            {
                return Malformed("an extension overruns the message", out reason);
            }

            if (seen[..seenCount].Contains((ushort)type))
            {
                return Malformed($"extension {type} appears twice", out reason);
            }

            if (seenCount < seen.Length)
            {
                seen[seenCount++] = (ushort)type;
            }

            if (type == 0 && !ReadServerName(ext, serverName, out nameLength, out reason))
            {
                return ClientHelloStatus.Malformed;
            }

            if (type == 16 && !ReadAlpn(ext, out alpn, out reason))
            {
                return ClientHelloStatus.Malformed;
            }
        }

        hello = new ClientHelloInfo(nameLength, alpn);
        reason = "";
        return ClientHelloStatus.Complete;
    }

    private static bool ReadServerName(ReadOnlySpan<byte> ext, Span<byte> name, out int nameLength, out string reason)
    {
        nameLength = 0;
        var r = new SpanReader(ext);
        if (!r.ReadU16(out var listLength) || listLength != r.Remaining || listLength == 0)
        {
            reason = "server_name list length is wrong";
            return false;
        }

        while (r.Remaining > 0)
        {
            if (!r.ReadU8(out var nameType) || !r.ReadU16(out var length) || !r.Slice(length, out var value))
            {
                reason = "a server_name entry overruns the list";
                return false;
            }

            if (nameType != 0)
            {
                continue;
            }

            if (nameLength > 0)
            {
                reason = "two host_name entries";
                return false;
            }

            if (length is 0 or > MaxServerName)
            {
                reason = "the host_name length is out of range";
                return false;
            }

            foreach (var b in value)
            {
                if (b is < 0x21 or > 0x7E)
                {
                    reason = "host_name holds a byte that is not printable ASCII";
                    return false;
                }
            }

            value.CopyTo(name);
            nameLength = length;
        }

        reason = "";
        return true;
    }

    private static bool ReadAlpn(ReadOnlySpan<byte> ext, out ApplicationProtocols protocols, out string reason)
    {
        protocols = ApplicationProtocols.None;
        var r = new SpanReader(ext);
        if (!r.ReadU16(out var listLength) || listLength != r.Remaining || listLength == 0)
        {
            reason = "ALPN list length is wrong";
            return false;
        }

        while (r.Remaining > 0)
        {
            if (!r.ReadU8(out var length) || length == 0 || !r.Slice(length, out var value))
            {
                reason = "an ALPN entry overruns the list";
                return false;
            }

            protocols |= value switch
            {
                _ when value.SequenceEqual("http/1.1"u8) => ApplicationProtocols.Http11,
                _ when value.SequenceEqual("h2"u8) => ApplicationProtocols.H2,
                _ when value.SequenceEqual("istio"u8) => ApplicationProtocols.Istio,
                _ when value.SequenceEqual("istio-peer-exchange"u8) => ApplicationProtocols.IstioPeerExchange,
                _ when value.SequenceEqual("istio-http/1.0"u8) => ApplicationProtocols.IstioHttp10,
                _ when value.SequenceEqual("istio-http/1.1"u8) => ApplicationProtocols.IstioHttp11,
                _ when value.SequenceEqual("istio-h2"u8) => ApplicationProtocols.IstioH2,
                _ => ApplicationProtocols.Other,
            };
        }

        reason = "";
        return true;
    }

    private static ClientHelloStatus Malformed(string why, out string reason)
    {
        reason = why;
        return ClientHelloStatus.Malformed;
    }

    /// <summary>Bounds-checked big-endian reads over a span.</summary>
    private ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public readonly int Remaining => _data.Length;

        public bool Skip(int n)
        {
            if (n > _data.Length)
            {
                return false;
            }

            _data = _data[n..];
            return true;
        }

        public bool ReadU8(out int value)
        {
            value = 0;
            if (_data.Length < 1)
            {
                return false;
            }

            value = _data[0];
            _data = _data[1..];
            return true;
        }

        public bool ReadU16(out int value)
        {
            value = 0;
            if (_data.Length < 2)
            {
                return false;
            }

            value = BinaryPrimitives.ReadUInt16BigEndian(_data);
            _data = _data[2..];
            return true;
        }

        public bool Slice(int n, out ReadOnlySpan<byte> slice)
        {
            slice = default;
            if (n > _data.Length)
            {
                return false;
            }

            slice = _data[..n];
            _data = _data[n..];
            return true;
        }
    }
}
