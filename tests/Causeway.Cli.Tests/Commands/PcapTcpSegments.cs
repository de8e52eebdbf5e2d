using System.Buffers.Binary;
using System.Net;

namespace Causeway.Cli.Tests.Commands;

/// <summary>The TCP segments in a classic pcap file of Ethernet frames (what tcpdump -w writes), with their flags and payload.</summary>
public static class PcapTcpSegments
{
    public sealed record Segment(IPEndPoint Source, IPEndPoint Destination, byte Flags, byte[] Payload)
    {
        /// <summary>A SYN without ACK: the client opening the connection.</summary>
        public bool IsOpening => (Flags & 0x12) == 0x02;
    }

    public static List<Segment> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var segments = new List<Segment>();
        if (bytes.Length < 24)
        {
            return segments;
        }

        var magic = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        var little = magic is 0xa1b2c3d4 or 0xa1b23c4d;
        if (!little && magic is not (0xd4c3b2a1 or 0x4d3cb2a1))
        {
            throw new InvalidDataException($"{path} is not a pcap file");
        }

        uint U32(int at) => little ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)) : BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at));
        if (U32(20) != 1)
        {
            throw new InvalidDataException("expected Ethernet frames (link type 1)");
        }

        var offset = 24;
        while (offset + 16 <= bytes.Length)
        {
            var captured = (int)U32(offset + 8);
            var frame = bytes.AsSpan(offset + 16, Math.Min(captured, bytes.Length - offset - 16));
            offset += 16 + captured;
            if (frame.Length < 34 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800)
            {
                continue;
            }

            var ip = frame[14..];
            var headerLength = (ip[0] & 0x0F) * 4;
            var totalLength = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(ip[2..]), ip.Length);
            if (ip[9] != 6 || totalLength < headerLength + 20)
            {
                continue;
            }

            var tcp = ip[headerLength..totalLength];
            var dataOffset = Math.Min((tcp[12] >> 4) * 4, tcp.Length);

            segments.Add(new Segment(
                new IPEndPoint(new IPAddress(ip.Slice(12, 4)), BinaryPrimitives.ReadUInt16BigEndian(tcp)),
                new IPEndPoint(new IPAddress(ip.Slice(16, 4)), BinaryPrimitives.ReadUInt16BigEndian(tcp[2..])),
                tcp[13],
                tcp[dataOffset..].ToArray()));
        }

        return segments;
    }
}
