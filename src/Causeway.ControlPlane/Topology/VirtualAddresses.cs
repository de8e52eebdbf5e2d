using System.Net;
using System.Net.Sockets;

namespace Causeway.ControlPlane.Topology;

/// <summary>
/// Gives every mesh service a virtual IPv4 address, as Istio's DNS auto-allocation does for ServiceEntries: the
/// entry's own address when it names one, otherwise one from 240.240.0.0/16 (reserved, never routed), chosen by a
/// hash of the host name so that every control plane that sees the same host gives it the same address. Collisions
/// probe to the next free address in host-name order, so an address changes only when a new host takes its slot.
/// </summary>
public static class VirtualAddresses
{
    /// <summary>The auto-allocation range, 240.240.0.0/16.</summary>
    public const uint RangeStart = 240u << 24 | 240u << 16;

    private const uint Slots = 65534;

    /// <summary>The first single IPv4 address of a ServiceEntry's <c>addresses</c> (CIDR ranges are not virtual addresses of one service).</summary>
    public static string? Explicit(IReadOnlyList<string> addresses)
    {
        foreach (var a in addresses)
        {
            if (!a.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(a, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork)
            {
                return ip.ToString();
            }
        }

        return null;
    }

    /// <summary>An address for each host: its explicit one if any, else a free one of the range.</summary>
    public static Dictionary<string, string> Allocate(IEnumerable<string> hosts, IReadOnlyDictionary<string, string> explicitAddresses)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var taken = new HashSet<uint>();
        foreach (var (host, address) in explicitAddresses)
        {
            result[host] = address;
            taken.Add(ToUInt(IPAddress.Parse(address)));
        }

        var sorted = hosts.Where(h => !result.ContainsKey(h)).Order(StringComparer.Ordinal).ToList();
        foreach (var host in sorted)
        {
            if (taken.Count >= Slots)
            {
                // A full range leaves the rest without an address: reachable by name through HTTP, not by captured TCP.
                result[host] = "";
                continue;
            }

            var slot = Fnv1a(host) % Slots;
            while (!taken.Add(RangeStart + 1 + slot))
            {
                slot = (slot + 1) % Slots;
            }

            result[host] = ToAddress(RangeStart + 1 + slot).ToString();
        }

        return result;
    }

    private static uint Fnv1a(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    private static uint ToUInt(IPAddress address)
    {
        var b = address.GetAddressBytes();
        return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }

    private static IPAddress ToAddress(uint value) => new([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
}
