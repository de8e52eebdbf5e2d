using System.Diagnostics;
using System.Text;
using Causeway.Lab;
using Causeway.Testing;
using Xunit.Abstractions;

namespace Causeway.Cli.Tests.Commands;

/// <summary>
/// The seed on real kernel networking: two clusters on two networks of the network-namespace lab, built with the
/// CLI's own commands. Sleep's plain curl (no proxy settings) reaches both versions through capture and mesh DNS,
/// cluster 2's pods cannot be reached from cluster 1 except through its gateway, only TLS crosses the public
/// segment, and 'lab down' leaves no namespace, veth or file behind.
/// </summary>
[Collection(NetnsCollection.Name)]
public sealed class NetnsLabTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Mesh = "proj-1234";
    private readonly TempDirectory _dir = new("causeway-netns");
    private readonly List<string> _namespacesBefore = [];
    private int _linksBefore;
    private Process? _tcpdump;

    private string LabDir => _dir.Combine("lab");

    private Dictionary<string, string> Environment => new() { ["CAUSEWAY_CONFIG"] = _dir.Combine("config.json"), ["CAUSEWAY_LAB"] = LabDir };

    public async Task InitializeAsync()
    {
        if (NetworkFabric.Unavailable() is null)
        {
            _namespacesBefore.AddRange(await NamespacesAsync());
            _linksBefore = await RootLinksAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (_tcpdump is { HasExited: false })
        {
            _tcpdump.Kill();
            await _tcpdump.WaitForExitAsync();
        }

        _tcpdump?.Dispose();
        if (Directory.Exists(LabDir))
        {
            await LocalLab.Open(LabDir).DownAsync();
        }

        _dir.Dispose();
    }

    [NetnsFact]
    public async Task SleepsPlainCurlReachesBothVersions_OnlyThroughTheGateway_AndOnlyTlsCrossesThePublicSegment()
    {
        var setup = Stopwatch.StartNew();
        var samples = Path.Combine(Path.GetDirectoryName(CausewayProcess.ExecutablePath)!, "samples");
        foreach (var c in new[] { 1, 2 })
        {
            await Ok("lab", "create", $"cluster{c}", "--network", $"network{c}", "--mesh-id", Mesh, "--isolation", "netns");
        }

        // The public segment is captured from before anything crosses it (remote secrets, gateways), so every
        // connection on it is seen from its first packet.
        var pcap = _dir.Combine("public.pcap");
        _tcpdump = StartCapture(LabState.Load(LabDir).FabricId + "-fabric", pcap);
        await WaitForAsync(() => File.Exists(pcap) && new FileInfo(pcap).Length >= 24, "tcpdump to start");

        foreach (var c in new[] { 1, 2 })
        {
            var gateway = await Ok("gen-eastwest-gateway", "--mesh", Mesh, "--network", $"network{c}");
            var gatewayFile = _dir.Combine($"gateway{c}.yaml");
            await File.WriteAllTextAsync(gatewayFile, gateway);
            await Ok("install", "--context", $"cluster{c}", "-y", "-f", gatewayFile);
            await Ok("apply", "--context", $"cluster{c}", "-n", "istio-system", "-f", Path.Combine(samples, "multicluster", "expose-services.yaml"));
        }

        await Ok("create-mesh", Mesh, "cluster1", "cluster2");
        foreach (var c in new[] { 1, 2 })
        {
            await Ok("create", "namespace", "sample", "--context", $"cluster{c}");
            await Ok("label", "namespace", "sample", "--context", $"cluster{c}", "istio-injection=enabled");
            await Ok("apply", "--context", $"cluster{c}", "-n", "sample", "-f", Path.Combine(samples, "helloworld", "helloworld.yaml"), "-l", "service=helloworld");
            await Ok("apply", "--context", $"cluster{c}", "-n", "sample", "-f", Path.Combine(samples, "sleep", "sleep.yaml"));
        }

        await Ok("lab", "deploy", "helloworld", "--version", "v1", "-n", "sample", "--context", "cluster1");
        await Ok("lab", "deploy", "helloworld", "--version", "v2", "-n", "sample", "--context", "cluster2");
        await Ok("lab", "deploy", "sleep", "-n", "sample", "--context", "cluster1");
        output.WriteLine($"set up in {setup.Elapsed.TotalSeconds:0.0} s");

        var state = LabState.Load(LabDir);
        var sleep = state.Processes.Single(p => p.Cluster == "cluster1" && p.Role == "sidecar" && p.Name.StartsWith("sleep-", StringComparison.Ordinal));
        var v2 = state.Processes.Single(p => p.Cluster == "cluster2" && p.Role == "sidecar" && p.Name.StartsWith("helloworld-v2-", StringComparison.Ordinal));
        var gateway2 = state.Processes.Single(p => p.Cluster == "cluster2" && p.Role == "gateway");
        Assert.NotNull(sleep.Netns);

        // No route from cluster 1's pods to cluster 2's pod range: the kernel says so, and a direct connect fails.
        var route = await RunAsync(NetworkFabric.Enter(sleep.Netns), "ip", "route", "get", v2.Address);
        Assert.NotEqual(0, route.Code);
        Assert.Contains("unreachable", route.Output, StringComparison.OrdinalIgnoreCase);
        var direct = await RunAsync(NetworkFabric.Enter(sleep.Netns), "curl", "-sS", "-m", "3", $"http://{v2.Address}:5000/hello");
        Assert.Equal(7, direct.Code);
        output.WriteLine($"direct connect to {v2.Address}:5000: {direct.Output.Trim()}");

        var forwardedBefore = await SumAsync(gateway2, "causeway_connections_total{listener=\"gateway\",outcome=\"forwarded\"}");
        var servedBefore = await SumAsync(v2, "istio_requests_total{reporter=\"destination\"", "sa/sleep\"");

        // The seed's command, typed as is: no proxy variable, a name only mesh DNS knows.
        var replies = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var (code, text) = await CausewayProcess.RunAsync(TimeSpan.FromSeconds(30), Environment, "exec", "--context", "cluster1", "-n", "sample", "sleep", "--", "curl", "-sS", "helloworld.sample:5000/hello");
            Assert.True(code == 0, text);
            replies.Add(text.Trim());
        }

        output.WriteLine(string.Join('\n', replies));
        Assert.All(replies, r => Assert.Matches("^Hello version: v[12], instance: helloworld-v[12]-", r));
        var versions = replies.Select(r => r[15..17]).ToList();
        Assert.Equal(3, versions.Count(v => v == "v1"));
        Assert.Equal(3, versions.Count(v => v == "v2"));
        for (var i = 1; i < versions.Count; i++)
        {
            Assert.NotEqual(versions[i - 1], versions[i]);
        }

        // Sleep's sidecar keeps one pooled mTLS connection through the gateway, so at least one was forwarded; v2 served
        // all three to Sleep's own SPIFFE ID, and its address is unreachable from cluster 1 but through the gateway.
        // A TCP service: captured by its virtual address and carried as mesh TCP (ALPN istio) to the app's port.
        var tcpService = _dir.Combine("hello-tcp.yaml");
        await File.WriteAllTextAsync(tcpService, """
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata: {name: hello-tcp}
            spec:
              hosts: [hello-tcp.sample.svc.cluster.local]
              ports: [{number: 7000, name: tcp, protocol: TCP, targetPort: 5000}]
              workloadSelector: {labels: {app: helloworld}}
            """);
        await Ok("apply", "--context", "cluster1", "-n", "sample", "-f", tcpService);
        var v1 = state.Processes.Single(p => p.Cluster == "cluster1" && p.Role == "sidecar" && p.Name.StartsWith("helloworld-v1-", StringComparison.Ordinal));
        var tcpBefore = await SumAsync(v1, "causeway_connections_total{listener=\"inbound\",outcome=\"tcp\"}");
        string? tcpReply = null;
        await WaitForAsync(async () => (tcpReply = (await RunAsync(NetworkFabric.Enter(sleep.Netns), "curl", "-sS", "-m", "5", "http://hello-tcp:7000/hello")).Output).StartsWith("Hello version: v1", StringComparison.Ordinal), "the TCP service to answer");
        output.WriteLine("hello-tcp:7000 → " + tcpReply!.Trim());
        Assert.True(await SumAsync(v1, "causeway_connections_total{listener=\"inbound\",outcome=\"tcp\"}") > tcpBefore, "the TCP service did not arrive as mesh TCP");

        // Plaintext to a pod address is no service's: it passes through, and the STRICT destination refuses it.
        var refusedBefore = await SumAsync(v1, "causeway_connections_total{listener=\"inbound\",outcome=\"plaintext_refused\"}");
        var plaintext = await RunAsync(NetworkFabric.Enter(sleep.Netns), "curl", "-sS", "-m", "5", $"http://{v1.Address}:5000/hello");
        Assert.NotEqual(0, plaintext.Code);
        Assert.Equal(1, await SumAsync(v1, "causeway_connections_total{listener=\"inbound\",outcome=\"plaintext_refused\"}") - refusedBefore);
        Assert.True(await SumAsync(sleep, "causeway_connections_total{listener=\"outbound_captured\",outcome=\"passthrough\"}") >= 1);

        var forwarded = await SumAsync(gateway2, "causeway_connections_total{listener=\"gateway\",outcome=\"forwarded\"}") - forwardedBefore;
        Assert.True(forwarded >= 1, $"cluster 2's gateway forwarded {forwarded} connections");
        Assert.Equal(3, await SumAsync(v2, "istio_requests_total{reporter=\"destination\"", "sa/sleep\"") - servedBefore);

        _tcpdump.Kill(entireProcessTree: false);
        await _tcpdump.WaitForExitAsync();
        var segments = PcapTcpSegments.Read(pcap);
        output.WriteLine($"public segment: {segments.Count(s => s.Payload.Length > 0)} TCP segments with payload in {segments.Count(s => s.IsOpening)} connections");
        Assert.Contains(segments, s => s.Payload.Length > 0);
        AssertOnlyTls(segments);

        await Ok("lab", "down");
        Assert.Empty((await NamespacesAsync()).Except(_namespacesBefore));
        Assert.DoesNotContain(Directory.Exists("/etc/netns") ? Directory.GetDirectories("/etc/netns") : [], d => Path.GetFileName(d).StartsWith(state.FabricId!, StringComparison.Ordinal));
        Assert.Equal(_linksBefore, await RootLinksAsync());
    }

    /// <summary>
    /// Every connection that carried data was opened during the capture, each of its directions opens with a TLS
    /// handshake record, and no plaintext of the exchange appears anywhere.
    /// </summary>
    private static void AssertOnlyTls(List<PcapTcpSegments.Segment> segments)
    {
        var opened = segments.Where(s => s.IsOpening).Select(s => Flow(s.Source, s.Destination)).ToHashSet();
        var carrying = segments.Where(s => s.Payload.Length > 0).ToList();
        foreach (var first in carrying.GroupBy(s => (s.Source.ToString(), s.Destination.ToString())).Select(g => g.First()))
        {
            Assert.True(opened.Contains(Flow(first.Source, first.Destination)), $"{first.Source} -> {first.Destination} carried data but was not opened during the capture");
            Assert.True(first.Payload.Length >= 3 && first.Payload[0] == 0x16 && first.Payload[1] == 0x03,
                $"{first.Source} -> {first.Destination} opened with {Convert.ToHexString(first.Payload.AsSpan(0, Math.Min(8, first.Payload.Length)))}, not a TLS handshake");
        }

        foreach (var segment in carrying)
        {
            var text = Encoding.ASCII.GetString(segment.Payload);
            Assert.DoesNotContain("Hello version", text, StringComparison.Ordinal);
            Assert.DoesNotContain("GET /hello", text, StringComparison.Ordinal);
        }
    }

    /// <summary>A connection, whichever direction a segment travels.</summary>
    private static string Flow(System.Net.IPEndPoint a, System.Net.IPEndPoint b) =>
        string.CompareOrdinal(a.ToString(), b.ToString()) < 0 ? $"{a}|{b}" : $"{b}|{a}";

    /// <summary>The sum of a proxy's Prometheus series that start with <paramref name="prefix"/> (and contain <paramref name="containing"/>).</summary>
    private static async Task<long> SumAsync(LabProcess proxy, string prefix, string containing = "")
    {
        using var http = LocalLab.Http(proxy.Netns, TimeSpan.FromSeconds(5));
        var text = await http.GetStringAsync($"http://{proxy.Address}:15000/stats/prometheus");
        return text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal) && l.Contains(containing, StringComparison.Ordinal))
            .Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static Process StartCapture(string fabric, string file)
    {
        var info = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "netns", "exec", fabric, "tcpdump", "-i", "pub", "-U", "-s", "0", "-w", file, "tcp" })
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        process.StandardError.ReadToEndAsync();
        return process;
    }

    private async Task<string> Ok(params string[] args)
    {
        var (code, text) = await CausewayProcess.RunAsync(TimeSpan.FromSeconds(60), Environment, args);
        Assert.True(code == 0, $"causeway {string.Join(' ', args)} exited {code}:\n{text}");
        return text;
    }

    private static async Task<(int Code, string Output)> RunAsync(IReadOnlyList<string> prefix, params string[] command)
    {
        var (code, stdout, stderr) = await NetworkFabric.RunUncheckedAsync([.. prefix, .. command]);
        return (code, stdout + stderr);
    }

    private static async Task<List<string>> NamespacesAsync() =>
        [.. (await RunAsync([], "ip", "netns", "list")).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0])];

    private static async Task<int> RootLinksAsync() =>
        (await RunAsync([], "ip", "-o", "link", "show")).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    private static Task WaitForAsync(Func<bool> condition, string what) => WaitForAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}
