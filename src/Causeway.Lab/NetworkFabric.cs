using System.Diagnostics;
using System.Globalization;

namespace Causeway.Lab;

/// <summary>
/// The kernel networking of the network-namespace lab. Every address lives in 198.18.0.0/15 (RFC 2544's range for
/// testing network devices, never routed on real networks) and only inside namespaces the lab makes: a "fabric"
/// namespace holds one Linux bridge per network (198.18.N.0/24) and a public bridge (198.19.0.0/24); each pod,
/// control plane, gateway and per-network NAT router is a namespace with a veth on its bridge. Nothing is added to
/// the host's own namespace, so nothing can be routed off the machine, and deleting the namespaces removes every
/// interface, bridge and iptables rule the lab made.
/// </summary>
public static class NetworkFabric
{
    /// <summary>The public segment: gateways' and control planes' public legs, and the routers' outside.</summary>
    public const string PublicPrefix = "198.19.0";

    /// <summary>Istio's auto-allocated service addresses, routed to the pod's own interface so capture can take them.</summary>
    public const string VirtualRange = "240.240.0.0/16";

    /// <summary>The group whose sockets capture leaves alone: the sidecar runs with it, as Istio's proxy runs as 1337.</summary>
    public const int ProxyGroup = 1337;

    /// <summary>Why this machine cannot run the lab (not root, a missing tool), or null when it can.</summary>
    public static string? Unavailable()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            return "the network-namespace lab needs root (it creates namespaces, bridges and iptables rules); run as root, or use the loopback lab (--isolation loopback)";
        }

        foreach (var tool in new[] { "ip", "iptables-restore", "setpriv" })
        {
            if (!IsInstalled(tool))
            {
                return $"'{tool}' is not installed; install it (apt-get install iproute2 iptables util-linux) or use the loopback lab";
            }
        }

        return null;
    }

    public static string NetworkPrefix(int network) => $"198.18.{network.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Creates the fabric namespace with its public bridge.</summary>
    public static async Task CreateFabricAsync(string fabric)
    {
        await AddNamespaceAsync(fabric);
        await IpAsync(fabric, "link", "add", "pub", "type", "bridge");
        await IpAsync(fabric, "link", "set", "pub", "up");
    }

    /// <summary>Creates a network's bridge and its NAT router (198.18.N.1 inside, a public address outside).</summary>
    public static async Task CreateNetworkAsync(string fabric, int network, string router, string routerVeths, string routerPublic)
    {
        var bridge = Bridge(network);
        await IpAsync(fabric, "link", "add", bridge, "type", "bridge");
        await IpAsync(fabric, "link", "set", bridge, "up");
        await AddHostAsync(fabric, router, [(bridge, NetworkPrefix(network) + ".1"), ("pub", routerPublic)], routerVeths, routes: []);
        await RunAsync("ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        // Pods reach public addresses (remote gateways) masqueraded as the router; nothing from outside gets in.
        await IptablesAsync(router, """
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A POSTROUTING -o eth1 -j MASQUERADE
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -i eth0 -o eth1 -j ACCEPT
            -A FORWARD -i eth1 -o eth0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
            COMMIT
            """);
    }

    /// <summary>
    /// Creates namespace <paramref name="name"/> with one leg per (bridge, address): eth0, eth1... A pod gets routes to
    /// the public segment through its network's router and to the virtual range on its own interface; there is no
    /// route to any other network.
    /// </summary>
    public static async Task AddHostAsync(string fabric, string name, IReadOnlyList<(string Bridge, string Address)> legs, string vethPrefix, IReadOnlyList<string[]> routes)
    {
        await AddNamespaceAsync(name);
        await IpAsync(name, "link", "set", "lo", "up");
        for (var i = 0; i < legs.Count; i++)
        {
            var (bridge, address) = legs[i];
            var outer = vethPrefix + i.ToString(CultureInfo.InvariantCulture);
            var inner = "eth" + i.ToString(CultureInfo.InvariantCulture);
            await IpAsync(fabric, "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", name);
            await IpAsync(fabric, "link", "set", outer, "master", bridge, "up");
            await IpAsync(name, "addr", "add", address + "/24", "dev", inner);
            await IpAsync(name, "link", "set", inner, "up");
        }

        foreach (var route in routes)
        {
            await IpAsync(name, ["route", "add", .. route]);
        }
    }

    /// <summary>The routes of a pod on <paramref name="network"/>.</summary>
    public static IReadOnlyList<string[]> PodRoutes(int network) =>
        [[PublicPrefix + ".0/24", "via", NetworkPrefix(network) + ".1"], [VirtualRange, "dev", "eth0"]];

    /// <summary>
    /// What Istio's init container does in a pod: outbound TCP to 15001, inbound TCP to 15006 (but the readiness port),
    /// DNS to the sidecar's 15053; the sidecar's own sockets (group 1337) and loopback traffic are left alone.
    /// </summary>
    public static Task CaptureAsync(string pod) => IptablesAsync(pod, $"""
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :CAUSEWAY_INBOUND - [0:0]
        :CAUSEWAY_OUTPUT - [0:0]
        -A PREROUTING -p tcp -j CAUSEWAY_INBOUND
        -A OUTPUT -p tcp -j CAUSEWAY_OUTPUT
        -A OUTPUT -p udp --dport 53 -m owner ! --gid-owner {ProxyGroup} -j REDIRECT --to-ports 15053
        -A CAUSEWAY_INBOUND -p tcp --dport 15021 -j RETURN
        -A CAUSEWAY_INBOUND -p tcp -j REDIRECT --to-ports 15006
        -A CAUSEWAY_OUTPUT -m owner --gid-owner {ProxyGroup} -j RETURN
        -A CAUSEWAY_OUTPUT -p tcp --dport 53 -j REDIRECT --to-ports 15053
        -A CAUSEWAY_OUTPUT -o lo -j RETURN
        -A CAUSEWAY_OUTPUT -p tcp -j REDIRECT --to-ports 15001
        COMMIT
        """);

    /// <summary>The pod's resolv.conf, which <c>ip netns exec</c> puts over /etc/resolv.conf: Kubernetes' search path.</summary>
    public static void WriteResolvConf(string pod, string ns)
    {
        var dir = Path.Combine("/etc/netns", pod);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "resolv.conf"), $"# written by causeway lab: port 53 is captured by the pod's sidecar\nnameserver 127.0.0.53\nsearch {ns}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n");
    }

    /// <summary>The prefix that runs a command inside a namespace, optionally as the sidecar's group.</summary>
    public static IReadOnlyList<string> Enter(string name, bool asProxy = false) =>
        asProxy ? ["ip", "netns", "exec", name, "setpriv", "--regid", ProxyGroup.ToString(CultureInfo.InvariantCulture), "--clear-groups", "--"] : ["ip", "netns", "exec", name];

    /// <summary>Deletes namespaces (their veths, bridges and rules go with them) and their /etc/netns files; missing ones are fine.</summary>
    public static async Task RemoveAsync(IEnumerable<string> namespaces)
    {
        foreach (var name in namespaces)
        {
            if (File.Exists(Path.Combine("/run/netns", name)))
            {
                await RunAsync("ip", "netns", "del", name);
            }

            var etc = Path.Combine("/etc/netns", name);
            if (Directory.Exists(etc))
            {
                Directory.Delete(etc, recursive: true);
            }
        }

        if (Directory.Exists("/etc/netns") && !Directory.EnumerateFileSystemEntries("/etc/netns").Any())
        {
            Directory.Delete("/etc/netns");
        }
    }

    public static string Bridge(int network) => "net" + network.ToString(CultureInfo.InvariantCulture);

    private static Task<string> AddNamespaceAsync(string name) => RunAsync("ip", "netns", "add", name);

    private static Task<string> IpAsync(string ns, params string[] args) => RunAsync(["ip", "-n", ns, .. args]);

    private static async Task IptablesAsync(string ns, string rules)
    {
        await RunAsync(["ip", "netns", "exec", ns, "iptables-restore"], rules.Replace("\r", "", StringComparison.Ordinal) + "\n");
    }

    public static Task<string> RunAsync(params string[] command) => RunAsync(command, null);

    /// <summary>Runs a command to its end; throws with its standard error when it fails.</summary>
    public static async Task<string> RunAsync(string[] command, string? input)
    {
        var (code, output, error) = await RunUncheckedAsync(command, input);
        if (code != 0)
        {
            throw new InvalidOperationException($"'{string.Join(' ', command)}' failed ({code}): {error.Trim()}");
        }

        return output;
    }

    /// <summary>
    /// Runs a command to its end and returns its exit code, standard output and standard error, whatever they are; on
    /// <paramref name="cancellationToken"/> the command and its children are killed.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunUncheckedAsync(IReadOnlyList<string> command, string? input = null, CancellationToken cancellationToken = default)
    {
        var info = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        foreach (var a in command.Skip(1))
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot run {command[0]}");
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>True when <paramref name="tool"/> is on the PATH (or in /usr/sbin and /sbin, which a non-login root shell may lack).</summary>
    public static bool IsInstalled(string tool) => Find(tool) is not null;

    /// <summary>The full path of <paramref name="tool"/> on the PATH or in /usr/sbin and /sbin, or null.</summary>
    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':').Append("/usr/sbin").Append("/sbin")
            .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
}
