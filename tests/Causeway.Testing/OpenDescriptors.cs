using System.Globalization;
using System.Net;
using System.Text;

namespace Causeway.Testing;

/// <summary>This process's open file descriptors, with the TCP connection behind each socket, so a test can say which leaked.</summary>
public static class OpenDescriptors
{
    /// <summary>One open descriptor: what it points to and, for a TCP socket, its state and ends.</summary>
    public sealed record Descriptor(string Target, TcpSocket? Tcp)
    {
        /// <summary>Whether this is a TCP socket with the given address at either end.</summary>
        public bool Touches(IPAddress address) => Tcp is { } t && (t.Local.Address.Equals(address) || t.Remote.Address.Equals(address));

        /// <summary>Whether this is a TCP socket with the given endpoint at either end.</summary>
        public bool Touches(IPEndPoint endpoint) => Tcp is { } t && (t.Local.Equals(endpoint) || t.Remote.Equals(endpoint));
    }

    /// <summary>A TCP socket's state (as <c>ss</c> names it) and its two ends.</summary>
    public sealed record TcpSocket(string State, IPEndPoint Local, IPEndPoint Remote)
    {
        /// <inheritdoc/>
        public override string ToString() => $"tcp {State} {Show(Local)} -> {Show(Remote)}";

        // Ephemeral ports shown as * put the connections of one kind into one group.
        private static string Show(IPEndPoint end) => $"{end.Address}:{(end.Port >= 32768 ? "*" : end.Port.ToString(CultureInfo.InvariantCulture))}";
    }

    /// <summary>How many descriptors the process <paramref name="processId"/> holds open.</summary>
    public static int Count(int processId) => Directory.GetFiles($"/proc/{processId}/fd").Length;

    /// <summary>Every descriptor the process holds open now.</summary>
    public static IReadOnlyList<Descriptor> Snapshot()
    {
        var sockets = TcpSocketsByInode();
        var descriptors = new List<Descriptor>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue; // closed while being listed
            }

            if (target is null)
            {
                continue;
            }

            var tcp = target.StartsWith("socket:[", StringComparison.Ordinal) ? sockets.GetValueOrDefault(target[8..^1]) : null;
            descriptors.Add(new Descriptor(target, tcp));
        }

        return descriptors;
    }

    /// <summary>The descriptors grouped by what they are, largest groups first, one line per group.</summary>
    public static string Describe(IEnumerable<Descriptor> descriptors, int groups = 30)
    {
        var counts = new Dictionary<string, int>();
        foreach (var d in descriptors)
        {
            var key = d.Tcp?.ToString() ?? (d.Target.StartsWith("pipe:", StringComparison.Ordinal) ? "pipe" : d.Target.StartsWith("socket:", StringComparison.Ordinal) ? "socket (not TCP)" : d.Target);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        var text = new StringBuilder();
        foreach (var (key, count) in counts.OrderByDescending(c => c.Value).Take(groups))
        {
            text.Append(CultureInfo.InvariantCulture, $"{count,5}  {key}\n");
        }

        return text.ToString();
    }

    private static Dictionary<string, TcpSocket> TcpSocketsByInode()
    {
        var byInode = new Dictionary<string, TcpSocket>();
        foreach (var file in new[] { "/proc/self/net/tcp", "/proc/self/net/tcp6" })
        {
            if (!File.Exists(file))
            {
                continue;
            }

            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 9)
                {
                    byInode[f[9]] = new TcpSocket(State(f[3]), End(f[1]), End(f[2]));
                }
            }
        }

        return byInode;
    }

    private static IPEndPoint End(string hex)
    {
        var colon = hex.IndexOf(':', StringComparison.Ordinal);
        var port = int.Parse(hex.AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var address = Convert.FromHexString(hex.AsSpan(0, colon));
        // /proc prints each 32-bit word of the address in host (little-endian) order.
        for (var word = 0; word < address.Length; word += 4)
        {
            Array.Reverse(address, word, 4);
        }

        var ip = new IPAddress(address);
        return new IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, port);
    }

    private static string State(string hex) => hex switch
    {
        "01" => "ESTABLISHED",
        "02" => "SYN_SENT",
        "03" => "SYN_RECV",
        "04" => "FIN_WAIT1",
        "05" => "FIN_WAIT2",
        "06" => "TIME_WAIT",
        "07" => "CLOSE",
        "08" => "CLOSE_WAIT",
        "09" => "LAST_ACK",
        "0A" => "LISTEN",
        "0B" => "CLOSING",
        _ => hex,
    };
}
