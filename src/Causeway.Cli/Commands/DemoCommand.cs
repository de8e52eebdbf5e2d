using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Causeway.Cli.Contexts;
using Causeway.Cli.Output;
using Causeway.Lab;
using Causeway.Proxy.Hosting;

namespace Causeway.Cli.Commands;

/// <summary>
/// <c>causeway demo</c>: the seed guide's whole workflow in a fresh local lab, each step run through the same
/// commands a user would type, ending in a table of replies per source cluster and version. <c>causeway verify</c>
/// runs the verification part against a lab mesh that already exists.
/// </summary>
public static partial class DemoCommand
{
    private const string MeshId = "proj-1234";
    private const string Revision = "asm-1134-4";
    private const int KeepAliveRequests = 20;
    private const int NewConnectionRequests = 10;

    /// <summary>How long the remote sidecars' request counts may take to include the last replies.</summary>
    private static readonly TimeSpan MetricsCatchUp = TimeSpan.FromSeconds(2);
    private const string HelloUrl = "http://helloworld.sample:5000/hello";

    public static Command Create()
    {
        var keep = new Option<bool>("--keep") { Description = "Leave the lab running at the end (its contexts stay usable), instead of the seed's cleanup." };
        var command = new Command("demo", "Run the seed's whole workflow (two clusters on two networks, east-west gateways, HelloWorld v1/v2, Sleep) in a fresh local lab, then clean up.") { keep, LabCommand.Isolation };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(keep), parse.GetValue(LabCommand.Isolation)!, cancellationToken));
        return command;
    }

    public static Command Verify()
    {
        var contexts = new Argument<string[]>("contexts") { Description = "The lab contexts to verify from (default: every lab context).", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("verify", "From each cluster's Sleep pod, call helloworld.sample:5000/hello over keep-alive and new connections; pass when every cluster gets both versions and cross-network replies crossed a gateway.") { contexts };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var config = CausewayConfig.Load();
            var names = parse.GetValue(contexts) is { Length: > 0 } given ? given : config.Contexts.Where(c => c.LabDirectory is not null).Select(c => c.Name).ToArray();
            var results = new List<SourceResult>();
            foreach (var name in names)
            {
                results.Add(await VerifyFromAsync(config.Resolve(name)));
            }

            Console.Write(Table(results));
            return results.Count > 0 && results.All(r => r.Passed) ? ExitCodes.Ok : ExitCodes.Failed;
        }));
        return command;
    }

    private static async Task<int> RunAsync(bool keep, string isolation, CancellationToken cancellationToken)
    {
        if (isolation == LocalLab.Netns && NetworkFabric.Unavailable() is { } why)
        {
            return CommandRunner.Fail(why);
        }

        var home = Directory.CreateTempSubdirectory("causeway-demo-").FullName;
        var lab = Path.Combine(home, "lab");
        // The demo's contexts and lab are its own: the user's config is left alone.
        Environment.SetEnvironmentVariable("CAUSEWAY_CONFIG", Path.Combine(home, "config.json"));
        Environment.SetEnvironmentVariable("CAUSEWAY_LAB", lab);
        var samples = Path.Combine(AppContext.BaseDirectory, "samples");
        var total = Stopwatch.StartNew();
        Console.WriteLine($"Causeway demo — the ASM 1.13 guide \"设置多云或混合网格\" (Set up a multi-cloud or hybrid mesh), step by step, in a local lab at {lab}");
        Console.WriteLine($"MESH_ID={MeshId}  NETWORK_1=network1  NETWORK_2=network2  REVISION={Revision}  isolation: {(isolation == LocalLab.Netns ? "network namespaces (each pod, gateway and control plane in its own; capture and mesh DNS in pods)" : "loopback (pods on 127.x addresses; Sleep's curl uses its sidecar as http_proxy)")}");
        Console.WriteLine($"proxies: {LabProcesses.ConfiguredProxy ?? "causeway proxy (JIT-compiled)"}");
        var passed = false;
        try
        {
            await Step(1, "设置环境变量和占位符 / Create the clusters (one control plane each, one shared root CA)",
                ["lab", "create", "cluster1", "--network", "network1", "--mesh-id", MeshId, "--revision", Revision, "--isolation", isolation],
                ["lab", "create", "cluster2", "--network", "network2", "--mesh-id", MeshId, "--revision", Revision, "--isolation", isolation]);
            await Step(2, "安装东-西网关 / Install the east-west gateways",
                Pipe(["gen-eastwest-gateway", "--mesh", MeshId, "--network", "network1", "--revision", Revision], ["install", "--context", "cluster1", "-y", "-f", "-"]),
                Pipe(["gen-eastwest-gateway", "--mesh", MeshId, "--network", "network2", "--revision", Revision], ["install", "--context", "cluster2", "-y", "-f", "-"]));
            var expose = Path.Combine(samples, "multicluster", "expose-services.yaml");
            await Step(3, "公开服务 / Expose services (*.local) on each cluster's east-west gateway",
                ["apply", "--context", "cluster1", "-n", "istio-system", "-f", expose],
                ["apply", "--context", "cluster2", "-n", "istio-system", "-f", expose]);
            await Step(4, "启用端点发现 / Enable endpoint discovery (create-mesh)",
                ["create-mesh", MeshId, "cluster1", "cluster2"]);
            await WaitForSyncAsync();
            await Step(5, "启用边车代理注入 / Label the sample namespace with the revision",
                ["create", "namespace", "sample", "--context", "cluster1"],
                ["label", "namespace", "sample", "--context", "cluster1", "istio-injection-", $"istio.io/rev={Revision}", "--overwrite"],
                ["create", "namespace", "sample", "--context", "cluster2"],
                ["label", "namespace", "sample", "--context", "cluster2", "istio-injection-", $"istio.io/rev={Revision}", "--overwrite"]);
            var helloworld = Path.Combine(samples, "helloworld", "helloworld.yaml");
            await Step(6, "安装 HelloWorld 服务 / Create the HelloWorld service in both clusters",
                ["apply", "--context", "cluster1", "-n", "sample", "-f", helloworld, "-l", "service=helloworld"],
                ["apply", "--context", "cluster2", "-n", "sample", "-f", helloworld, "-l", "service=helloworld"]);
            await Step(7, "将 HelloWorld v1 和 v2 部署到每个集群 / Deploy HelloWorld v1 to cluster1 and v2 to cluster2",
                ["lab", "deploy", "helloworld", "--version", "v1", "-n", "sample", "--context", "cluster1"],
                ["lab", "deploy", "helloworld", "--version", "v2", "-n", "sample", "--context", "cluster2"]);
            var sleep = Path.Combine(samples, "sleep", "sleep.yaml");
            await Step(8, "部署 Sleep 服务 / Deploy Sleep to both clusters",
                ["apply", "--context", "cluster1", "-n", "sample", "-f", sleep], ["lab", "deploy", "sleep", "-n", "sample", "--context", "cluster1"],
                ["apply", "--context", "cluster2", "-n", "sample", "-f", sleep], ["lab", "deploy", "sleep", "-n", "sample", "--context", "cluster2"]);
            await WaitForEndpointsAsync();

            Console.WriteLine($"\n[9] 验证跨集群负载均衡 / Verify cross-cluster load balancing: from each Sleep, curl -sS helloworld.sample:5000/hello ({KeepAliveRequests} over keep-alive, {NewConnectionRequests} on new connections)");
            var config = CausewayConfig.Load();
            var results = new List<SourceResult> { await VerifyFromAsync(config.Resolve("cluster1")), await VerifyFromAsync(config.Resolve("cluster2")) };
            foreach (var r in results)
            {
                Console.WriteLine($"      from {r.Cluster}: {string.Join(" | ", r.Sample)}");
            }

            Console.Write(Indent(Table(results)));
            passed = results.All(r => r.Passed);
            await Run(["proxy-config", "endpoints", "sleep", "-n", "sample", "--context", "cluster1"]);

            Console.WriteLine("\n[10] Beyond the seed: remove HelloWorld v2 from cluster2 and watch cluster1 converge to v1 only");
            var converged = await ConvergenceAsync(config.Resolve("cluster1"), config.Resolve("cluster2"));
            Console.WriteLine(converged is { } t ? $"      cluster1's Sleep gets only v1 {t.TotalMilliseconds:0} ms after the deletion" : "      cluster1's Sleep still got v2 after 10 s");
            passed &= converged is not null;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            Console.Error.WriteLine("error: " + e.Message);
        }
        finally
        {
            if (!keep)
            {
                Console.WriteLine("\n[11] 清理 / Clean up");
                await Run(["delete", "namespace", "sample", "--context", "cluster1"]);
                await Run(["delete", "namespace", "sample", "--context", "cluster2"]);
                passed &= await ViewsAreEmptyAsync();
                await Run(["lab", "down", "--lab-dir", lab]);
                try
                {
                    Directory.Delete(home, recursive: true);
                }
                catch (IOException e)
                {
                    Console.Error.WriteLine($"warning: could not remove {home}: {e.Message}");
                }
            }
            else
            {
                Console.WriteLine($"\nThe lab keeps running: export CAUSEWAY_CONFIG={Path.Combine(home, "config.json")} CAUSEWAY_LAB={lab}; remove it with 'causeway lab down'.");
            }
        }

        Console.WriteLine($"\n{(passed ? "PASS" : "FAIL")}: {(passed ? "both versions answered from both clusters, and every cross-network reply crossed an east-west gateway" : "see above")} ({total.Elapsed.TotalSeconds:0.0} s)");
        return passed ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private sealed record SourceResult(string Cluster, int V1, int V2, int Failed, bool CrossedGateway, bool RemoteDirect, long RemoteMtls,
        (int V1, int V2) KeepAlive, (int V1, int V2) NewConnections, List<string> Sample)
    {
        /// <summary>Every remote reply was served to Sleep's own SPIFFE ID: mTLS ran end to end through the gateway.</summary>
        public bool MtlsEndToEnd => RemoteMtls >= RemoteReplies && RemoteReplies > 0;

        public int RemoteReplies => RemoteRepliesOf(Cluster, V1, V2);

        /// <summary>The replies that came from the other cluster: v2 lives in cluster2, v1 in cluster1.</summary>
        public static int RemoteRepliesOf(string cluster, int v1, int v2) => cluster == "cluster1" ? v2 : v1;

        public bool Passed => KeepAlive.V1 > 0 && KeepAlive.V2 > 0 && NewConnections.V1 > 0 && NewConnections.V2 > 0 && Failed == 0 && CrossedGateway && !RemoteDirect && MtlsEndToEnd;
    }

    /// <summary>Calls helloworld from the context's Sleep pod through its sidecar, and checks how remote replies travelled.</summary>
    private static async Task<SourceResult> VerifyFromAsync(ContextEntry context)
    {
        var (lab, cluster) = LabCommand.Resolve(context.Name);
        var sleep = lab.FindPod(cluster, "sample", "sleep");
        var state = lab.State;
        var network = lab.Cluster(cluster).Network;
        var remoteGateways = state.Processes.Where(p => p.Role == "gateway" && p.Cluster != cluster).ToList();
        var remoteServers = state.Processes.Where(p => p.Role == "sidecar" && p.Cluster != cluster && p.Name.StartsWith("helloworld-", StringComparison.Ordinal)).ToList();
        var before = await SumAsync(remoteGateways, Forwarded());
        var mtlsBefore = await SumAsync(remoteServers, FromSleep());
        int v1 = 0, v2 = 0, failed = 0;
        var sample = new List<string>();
        foreach (var reply in await CallAsync(sleep, KeepAliveRequests))
        {
            Count(reply);
        }

        var keepAliveSplit = (v1, v2);
        for (var i = 0; i < NewConnectionRequests; i++)
        {
            Count((await CallAsync(sleep, 1))[0]);
        }

        var newConnectionSplit = (v1 - keepAliveSplit.v1, v2 - keepAliveSplit.v2);

        var crossed = await SumAsync(remoteGateways, Forwarded()) > before;
        // A sidecar counts a request once its response has gone out, so the last reply can reach Sleep before the remote
        // sidecar has counted it (on a busy machine the sidecar's thread may wait for the CPU in between): the count is
        // given a moment to catch up before it is judged.
        var remoteReplies = SourceResult.RemoteRepliesOf(cluster, v1, v2);
        var waited = Stopwatch.StartNew();
        long mtls;
        while ((mtls = await SumAsync(remoteServers, FromSleep()) - mtlsBefore) < remoteReplies && waited.Elapsed < MetricsCatchUp)
        {
            await Task.Delay(50);
        }

        using var admin = LocalLab.Http(sleep.Netns, TimeSpan.FromSeconds(5));
        var clusters = await admin.GetStringAsync($"http://{sleep.Address}:15000/clusters");
        // Any helloworld endpoint on another network that is not a gateway would mean a reply could bypass one.
        var remoteDirect = clusters.Split('\n').Where(l => l.Contains("helloworld.sample.svc.cluster.local", StringComparison.Ordinal) && l.Contains("::network::", StringComparison.Ordinal) && !l.EndsWith("::network::" + network, StringComparison.Ordinal))
            .Select(l => l[..l.IndexOf("::network::", StringComparison.Ordinal)])
            .Any(prefix => clusters.Contains(prefix + "::via_gateway::false", StringComparison.Ordinal));
        return new SourceResult(cluster, v1, v2, failed, crossed, remoteDirect, mtls, keepAliveSplit, newConnectionSplit, sample);

        void Count(string reply)
        {
            if (sample.Count < 4)
            {
                sample.Add(reply.Trim());
            }

            var m = Reply().Match(reply);
            switch (m.Success ? m.Groups[1].Value : "")
            {
                case "v1": v1++; break;
                case "v2": v2++; break;
                default: failed++; break;
            }
        }
    }

    private static async Task<TimeSpan?> ConvergenceAsync(ContextEntry source, ContextEntry target)
    {
        var (lab, cluster) = LabCommand.Resolve(target.Name);
        var v2 = lab.State.Processes.First(p => p.Cluster == cluster && p.Role == "sidecar" && p.Name.StartsWith("helloworld-v2-", StringComparison.Ordinal));
        var (sourceLab, sourceCluster) = LabCommand.Resolve(source.Name);
        var sleep = sourceLab.FindPod(sourceCluster, "sample", "sleep");
        await Run(["delete", "workloadentry", v2.Name, "-n", "sample", "--context", target.Name]);
        var watch = Stopwatch.StartNew();
        using var client = Client(sleep.Address);
        var consecutiveV1 = 0;
        var firstV1 = TimeSpan.Zero;
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var sent = watch.Elapsed;
            var reply = sleep.Netns is null ? await Get(client) : (await CallAsync(sleep, 1))[0];
            consecutiveV1 = reply.Contains("version: v1", StringComparison.Ordinal) ? consecutiveV1 + 1 : 0;
            if (consecutiveV1 == 1)
            {
                firstV1 = sent;
            }

            // Converged: ten v1 replies in a row (with two endpoints, round robin would have shown v2 by then).
            if (consecutiveV1 == 10)
            {
                return firstV1;
            }
        }

        return null;
    }

    /// <summary>
    /// <paramref name="count"/> calls to helloworld from the Sleep pod on one connection. In a netns lab this is the
    /// seed's plain <c>curl</c> inside the pod's namespace (one curl, several URLs, so it keeps the connection), with
    /// no proxy setting: capture and mesh DNS carry it. In the loopback lab, an HTTP client with the sidecar as proxy.
    /// </summary>
    private static async Task<List<string>> CallAsync(LabProcess sleep, int count)
    {
        var replies = new List<string>();
        if (sleep.Netns is null)
        {
            using var client = Client(sleep.Address);
            for (var i = 0; i < count; i++)
            {
                replies.Add(await Get(client));
            }

            return replies;
        }

        var (code, stdout, stderr) = await NetworkFabric.RunUncheckedAsync([.. NetworkFabric.Enter(sleep.Netns), "curl", "-sS", "-m", "10", .. Enumerable.Repeat(HelloUrl, count)]);
        replies.AddRange(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        while (replies.Count < count)
        {
            replies.Add("error: curl exited " + code + ": " + stderr.Trim());
        }

        return replies;
    }

    private static HttpClient Client(string sleepAddress) => new(new SocketsHttpHandler { Proxy = new WebProxy($"http://{sleepAddress}:15001"), UseProxy = true }) { Timeout = TimeSpan.FromSeconds(10) };

    private static async Task<string> Get(HttpClient client)
    {
        try
        {
            return await client.GetStringAsync(HelloUrl);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return "error: " + e.Message;
        }
    }

    /// <summary>The sum of a metric series over the proxies' admin pages (e.g. gateway forwards, requests served to Sleep's SPIFFE ID).</summary>
    private static async Task<long> SumAsync(List<LabProcess> proxies, Regex series)
    {
        long total = 0;
        foreach (var proxy in proxies)
        {
            using var http = LocalLab.Http(proxy.Netns, TimeSpan.FromSeconds(5));
            foreach (Match m in series.Matches(await http.GetStringAsync($"http://{proxy.Address}:15000/stats/prometheus")))
            {
                total += long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    private static string Table(List<SourceResult> results)
    {
        var table = new TextTable("SOURCE", "v1", "v2", "KEEP-ALIVE v1/v2", "NEW CONN v1/v2", "FAILED", "CROSSED GATEWAY", "mTLS AS SLEEP", "RESULT");
        foreach (var r in results)
        {
            table.Add(r.Cluster, r.V1, r.V2, $"{r.KeepAlive.V1}/{r.KeepAlive.V2}", $"{r.NewConnections.V1}/{r.NewConnections.V2}", r.Failed,
                r.CrossedGateway && !r.RemoteDirect ? "yes" : "no", $"{Math.Min(r.RemoteMtls, r.RemoteReplies)}/{r.RemoteReplies}", r.Passed ? "pass" : "FAIL");
        }

        return table.ToString();
    }

    /// <summary>After the namespaces are gone, neither control plane may still list a sample endpoint, local or remote.</summary>
    private static async Task<bool> ViewsAreEmptyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        foreach (var name in new[] { "cluster1", "cluster2" })
        {
            using var session = ClusterSession.Open(name);
            int left;
            while ((left = Count(await session.DebugAsync("/debug/endpointz"))) > 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            Console.WriteLine($"      {name}'s view after the cleanup: {left} sample endpoints in any cluster");
            if (left > 0)
            {
                return false;
            }
        }

        return true;

        static int Count(System.Text.Json.JsonElement endpointz) => endpointz.GetProperty("services").EnumerateArray()
            .Where(s => s.GetProperty("hostname").GetString()!.EndsWith(".sample.svc.cluster.local", StringComparison.Ordinal))
            .Sum(s => s.GetProperty("endpoints").GetArrayLength());
    }

    private static async Task WaitForSyncAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var name in new[] { "cluster1", "cluster2" })
        {
            using var session = ClusterSession.Open(name);
            while (!(await session.DebugAsync("/debug/clusterz")).EnumerateArray().Any(c => c.GetProperty("status").GetString() == "synced") && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task WaitForEndpointsAsync()
    {
        // Both sleeps must see both versions before the first curl, as 'kubectl get pod' shows Running first in the seed.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var name in new[] { "cluster1", "cluster2" })
        {
            var (lab, cluster) = LabCommand.Resolve(name);
            var sleep = lab.FindPod(cluster, "sample", "sleep");
            using var admin = LocalLab.Http(sleep.Netns, TimeSpan.FromSeconds(5));
            while (DateTime.UtcNow < deadline && (await admin.GetStringAsync($"http://{sleep.Address}:15000/clusters")).Split('\n').Count(l => l.StartsWith("outbound|5000||helloworld.sample.svc.cluster.local::", StringComparison.Ordinal) && l.Contains("::weight::", StringComparison.Ordinal)) < 2)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task Step(int n, string title, params string[][] commands)
    {
        Console.WriteLine($"\n[{n}] {title}");
        var watch = Stopwatch.StartNew();
        foreach (var command in commands)
        {
            if (await Run(command) != ExitCodes.Ok)
            {
                throw new InvalidOperationException($"step {n} failed: causeway {string.Join(' ', command)}");
            }
        }

        Console.WriteLine($"      ({watch.ElapsedMilliseconds} ms)");
    }

    /// <summary>A pipeline of two commands, as the seed pipes gen-eastwest-gateway into istioctl install.</summary>
    private static string[] Pipe(string[] first, string[] second) => [.. first, "|", .. second];

    private static async Task<int> Run(string[] command)
    {
        var pipe = Array.IndexOf(command, "|");
        if (pipe > 0)
        {
            Console.WriteLine($"      $ causeway {string.Join(' ', command[..pipe])} | causeway {string.Join(' ', command[(pipe + 1)..])}");
            var output = new StringWriter();
            var stdout = Console.Out;
            Console.SetOut(output);
            int code;
            try
            {
                code = await CausewayCli.Build().Parse(command[..pipe]).InvokeAsync(TerminationGrace.Invocation());
            }
            finally
            {
                Console.SetOut(stdout);
            }

            if (code != ExitCodes.Ok)
            {
                return code;
            }

            var stdin = Console.In;
            Console.SetIn(new StringReader(output.ToString()));
            try
            {
                return await Invoke(command[(pipe + 1)..]);
            }
            finally
            {
                Console.SetIn(stdin);
            }
        }

        Console.WriteLine($"      $ causeway {string.Join(' ', command)}");
        return await Invoke(command);
    }

    private static async Task<int> Invoke(string[] command)
    {
        var stdout = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {
            return await CausewayCli.Build().Parse(command).InvokeAsync(TerminationGrace.Invocation());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.Write(Indent(captured.ToString()));
        }
    }

    private static string Indent(string text) =>
        string.Concat(text.Split('\n').Where(l => l.Length > 0).Select(l => "      " + l + "\n"));

    [GeneratedRegex(@"^Hello version: (v\d+), instance: ")]
    private static partial Regex Reply();

    [GeneratedRegex("istio_requests_total\\{reporter=\"destination\",[^}]*source_principal=\"spiffe://cluster.local/ns/sample/sa/sleep\"[^}]*response_code=\"200\"\\} (\\d+)")]
    private static partial Regex FromSleep();

    [GeneratedRegex("causeway_connections_total\\{listener=\"gateway\",outcome=\"forwarded\"\\} (\\d+)")]
    private static partial Regex Forwarded();
}
