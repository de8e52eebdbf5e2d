using System.Buffers.Binary;

namespace Causeway.Proxy.Dns;

/// <summary>
/// The one question of a standard DNS query (RFC 1035 §4.1), read in place: the name as lower-case text without the
/// trailing dot, its type and class, and where the question ends so a reply can copy it verbatim.
/// </summary>
public readonly ref struct DnsQuery
{
    public const ushort TypeA = 1;
    public const ushort TypeAny = 255;

    /// <summary>The longest name in text form (RFC 1035 §2.3.4: 255 octets on the wire).</summary>
    public const int MaxNameLength = 253;

    public ushort Id { get; init; }

    /// <summary>The RD bit, echoed in the reply.</summary>
    public bool RecursionDesired { get; init; }

    public ReadOnlySpan<char> Name { get; init; }

    public ushort Type { get; init; }

    public ushort Class { get; init; }

    /// <summary>The offset just past the question (header included).</summary>
    public int QuestionEnd { get; init; }

    /// <summary>
    /// Reads a query into <paramref name="nameBuffer"/> (at least <see cref="MaxNameLength"/> chars). Returns the
    /// RCODE to answer with when it cannot be served: 1 (FORMERR) for malformed input, 4 (NOTIMP) for other opcodes,
    /// -1 when it must not be answered at all (it is a response, or too short to carry an id).
    /// </summary>
    public static int TryRead(ReadOnlySpan<byte> message, Span<char> nameBuffer, out DnsQuery query)
    {
        query = default;
        if (message.Length < 12 || (message[2] & 0x80) != 0)
        {
            return -1;
        }

        var id = BinaryPrimitives.ReadUInt16BigEndian(message);
        var rd = (message[2] & 0x01) != 0;
        query = new DnsQuery { Id = id, RecursionDesired = rd };
        if (((message[2] >> 3) & 0x0F) != 0)
        {
            return 4;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(message[4..]) != 1)
        {
            return 1;
        }

        var offset = 12;
        var length = 0;
        while (true)
        {
            if (offset >= message.Length)
            {
                return 1;
            }

            int label = message[offset++];
            if (label == 0)
            {
                break;
            }

            // Compression pointers and the reserved 01/10 label types have no place in a question.
            if (label > 63 || offset + label > message.Length || length + label + 1 > MaxNameLength + 1)
            {
                return 1;
            }

            if (length > 0)
            {
                nameBuffer[length++] = '.';
            }

            foreach (var b in message.Slice(offset, label))
            {
                nameBuffer[length++] = (char)(b is >= (byte)'A' and <= (byte)'Z' ? b + 32 : b);
            }

            offset += label;
        }

        if (offset + 4 > message.Length)
        {
            return 1;
        }

        query = new DnsQuery
        {
            Id = id,
            RecursionDesired = rd,
            Name = nameBuffer[..length],
            Type = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]),
            Class = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 2)..]),
            QuestionEnd = offset + 4,
        };
        return 0;
    }

    /// <summary>
    /// Writes the reply to <paramref name="message"/> into <paramref name="reply"/> (at least 512 bytes): the question
    /// copied, and one A record when <paramref name="address"/> is given. Returns the reply's length.
    /// </summary>
    public static int WriteReply(ReadOnlySpan<byte> message, in DnsQuery query, int rcode, ReadOnlySpan<byte> address, uint ttl, Span<byte> reply)
    {
        var questionEnd = rcode is 0 or 3 ? query.QuestionEnd : 12;
        var answers = address.Length == 4 ? 1 : 0;
        if (questionEnd + (answers * 16) > reply.Length)
        {
            return 0;
        }

        message[..questionEnd].CopyTo(reply);
        BinaryPrimitives.WriteUInt16BigEndian(reply, query.Id);
        reply[2] = (byte)(0x80 | 0x04 | (query.RecursionDesired ? 0x01 : 0)); // QR, AA, RD echoed
        reply[3] = (byte)(0x80 | (rcode & 0x0F)); // RA
        BinaryPrimitives.WriteUInt16BigEndian(reply[4..], (ushort)(questionEnd > 12 ? 1 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(reply[6..], (ushort)answers);
        BinaryPrimitives.WriteUInt32BigEndian(reply[8..], 0);
        var offset = questionEnd;
        if (answers == 1)
        {
            BinaryPrimitives.WriteUInt16BigEndian(reply[offset..], 0xC00C); // the question's name
            BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 2)..], TypeA);
            BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 4)..], 1);
            BinaryPrimitives.WriteUInt32BigEndian(reply[(offset + 6)..], ttl);
            BinaryPrimitives.WriteUInt16BigEndian(reply[(offset + 10)..], 4);
            address.CopyTo(reply[(offset + 12)..]);
            offset += 16;
        }

        return offset;
    }
}
