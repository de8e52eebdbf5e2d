using System.CommandLine;
using System.Net;
using Causeway.Api.V1;
using Causeway.Core.Hosting;

namespace Causeway.Proxy.Hosting;

/// <summary>
/// The proxy's command line: <c>causeway proxy</c> (JIT-compiled, in the one executable with every other role) and
/// <c>causeway-proxy</c> (the same command compiled ahead of time, what sidecars run in production). Runs a sidecar or an
/// east-west gateway until SIGTERM or Ctrl+C.
/// </summary>
public static class ProxyCommand
{
    private static readonly Option<string> Role = new("--role") { Description = "sidecar or gateway.", DefaultValueFactory = _ => "sidecar" };
    private static readonly Option<string> ControlPlane = new("--control-plane") { Description = "The control plane's discovery address, e.g. https://127.0.1.1:15012.", Required = true };
    private static readonly Option<string> CaFile = new("--ca-file") { Description = "The mesh root certificate (root-cert.pem).", Required = true };
    private static readonly Option<string> TokenFile = new("--token-file") { Description = "A file holding the workload token the control plane issued for this namespace and service account.", Required = true };
    private static readonly Option<string> Workload = new("--workload") { Description = "The workload's name (its WorkloadEntry's name).", Required = true };
    private static readonly Option<string> Namespace = new("--namespace", "-n") { Description = "The workload's namespace.", Required = true };
    private static readonly Option<string> ServiceAccount = new("--service-account") { Description = "The workload's service account: its identity.", DefaultValueFactory = _ => "default" };
    private static readonly Option<string> Network = new("--network") { Description = "The network this proxy is on.", Required = true };
    private static readonly Option<string> Cluster = new("--cluster") { Description = "The cluster this proxy belongs to." , DefaultValueFactory = _ => "" };
    private static readonly Option<string> Revision = new("--revision") { Description = "The control-plane revision to join.", DefaultValueFactory = _ => "default" };
    private static readonly Option<string> Address = new("--address") { Description = "The pod address every listener binds.", DefaultValueFactory = _ => "127.0.0.1" };
    private static readonly Option<string?> AppAddress = new("--app-address") { Description = "Where the application listens; the pod address by default." };
    private static readonly Option<bool> Capture = new("--capture") { Description = "The pod's iptables redirect its TCP here (outbound to 15001, inbound to 15006) and port 53 to the DNS proxy on 127.0.0.1:15053: route by original destination." };
    private static readonly Option<string?> DnsUpstream = new("--dns-upstream") { Description = "With --capture: the resolver (IP[:port]) for names outside the mesh; without it they get NXDOMAIN." };
    private static readonly Option<string> ClientHelloTimeout = new("--client-hello-timeout") { Description = "Gateway: how long a connection may take to send its whole ClientHello before it is closed (Envoy's listener_filters_timeout), e.g. 10s or 500ms.", DefaultValueFactory = _ => "10s" };
    private static readonly Option<int> MaxConnections = new("--max-connections") { Description = "Connections the proxy holds at once across its listeners; more are refused at accept.", DefaultValueFactory = _ => 20_000 };
    private static readonly Option<string[]> Labels = new("--label") { Description = "A workload label key=value (repeatable); gateways are selected by them.", AllowMultipleArgumentsPerToken = true };

    private const string Summary = "Run a sidecar (outbound 15001, inbound 15006) or an east-west gateway (15443).";

    /// <summary>The <c>proxy</c> subcommand of <c>causeway</c>.</summary>
    public static Command Create() => WithOptions(new Command("proxy", Summary));

    /// <summary>The root command of <c>causeway-proxy</c>.</summary>
    public static RootCommand CreateRoot() => WithOptions(new RootCommand(Summary));

    /// <summary>
    /// What a proxy process sets before anything reads it. The shared ArrayPool keeps 32 arrays of a size per core by
    /// default, and reads its limit once, when first used. A sidecar with 128 HTTP/2 streams in flight rents a 16 KiB block
    /// per stream in SocketsHttpHandler and Kestrel, missed the pool and allocated (and the GC zeroed) new ones for every
    /// request: B4 spent 10% of its CPU in memset, and ran 9,000 requests/s through the pair against 16,900 with 256. The
    /// pool keeps only what was rented at once and trims what goes unused, so a quiet sidecar holds no more. An operator's
    /// own setting wins.
    /// </summary>
    public static void ConfigureRuntime()
    {
        const string ArraysPerPartition = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";
        if (Environment.GetEnvironmentVariable(ArraysPerPartition) is null)
        {
            Environment.SetEnvironmentVariable(ArraysPerPartition, "256");
        }
    }

    private static T WithOptions<T>(T command)
        where T : Command
    {
        foreach (var option in new Option[] { Role, ControlPlane, CaFile, TokenFile, Workload, Namespace, ServiceAccount, Network, Cluster, Revision, Address, AppAddress, Capture, DnsUpstream, ClientHelloTimeout, MaxConnections, Labels })
        {
            command.Options.Add(option);
        }

        command.SetAction(RunAsync);
        return command;
    }

    /// <summary>Set to 0, sidecars forward HTTP/1.1 through Kestrel and the forwarder instead of their direct path (to compare the two).</summary>
    public const string DirectHttp1 = "CAUSEWAY_DIRECT_HTTP1";

    /// <summary>Set to 0, sidecars proxy HTTP/2 through Kestrel and the forwarder instead of their direct path (to compare the two).</summary>
    public const string DirectHttp2 = "CAUSEWAY_DIRECT_HTTP2";

    /// <summary>Set to 0, sidecars use .NET's socket engine under Kestrel instead of Causeway's event loops (to compare the two).</summary>
    public const string EventLoop = "CAUSEWAY_EVENT_LOOP";

    /// <summary>Set to 0, the east-west gateway copies passthrough bytes through the process instead of splicing them (to compare the two).</summary>
    public const string ZeroCopySplice = "CAUSEWAY_SPLICE";

    /// <summary>The runtime's switch that runs socket completions on its epoll thread rather than the thread pool.</summary>
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Set to 0, the proxy leaves what the garbage collector keeps committed after a full collection (<see cref="HeapRelease"/>), to compare.</summary>
    public const string HeapReleaseSwitch = "CAUSEWAY_HEAP_RELEASE";

    /// <summary>One error line on stderr, as every causeway command prints it, and the failure exit code.</summary>
    private static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + message);
        return 1;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        // Read once, when the first socket is made. On the one CPU a sidecar usually gets, handing every completion to
        // the thread pool costs more than the work it hands over (B1: 39,000 -> 48,000 req/s per core). The proxy's
        // handlers never block; the longest CPU step, a TLS handshake, would take the same core on the pool. An
        // explicit setting wins.
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }

        var role = parse.GetValue(Role) switch
        {
            "sidecar" => ProxyRole.Sidecar,
            "gateway" => ProxyRole.Gateway,
            _ => (ProxyRole?)null,
        };
        if (role is null)
        {
            return Fail($"--role '{parse.GetValue(Role)}' is not a role; use sidecar or gateway");
        }

        if (!IPAddress.TryParse(parse.GetValue(Address), out var address))
        {
            return Fail($"--address '{parse.GetValue(Address)}' is not an IP address");
        }

        IPAddress? appAddress = null;
        if (parse.GetValue(AppAddress) is { } app && !IPAddress.TryParse(app, out appAddress))
        {
            return Fail($"--app-address '{app}' is not an IP address");
        }

        IPEndPoint? dnsUpstream = null;
        if (parse.GetValue(DnsUpstream) is { } upstream && !IPEndPoint.TryParse(upstream, out dnsUpstream))
        {
            return Fail($"--dns-upstream '{upstream}' is not an IP address or IP:port");
        }

        if (dnsUpstream is { Port: 0 })
        {
            dnsUpstream.Port = 53;
        }

        if (!Core.Resources.MeshDuration.TryParse(parse.GetValue(ClientHelloTimeout)!, out var helloTimeout) || helloTimeout <= TimeSpan.Zero)
        {
            return Fail($"--client-hello-timeout '{parse.GetValue(ClientHelloTimeout)}' is not a positive duration; write e.g. 10s or 500ms");
        }

        if (parse.GetValue(MaxConnections) is var maxConnections && maxConnections <= 0)
        {
            return Fail($"--max-connections {maxConnections} must be at least 1");
        }

        var labels = new Dictionary<string, string>();
        foreach (var label in parse.GetValue(Labels) ?? [])
        {
            var eq = label.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return Fail($"--label '{label}' is not key=value");
            }

            labels[label[..eq]] = label[(eq + 1)..];
        }

        ProxyOptions options;
        try
        {
            options = new ProxyOptions
            {
                ControlPlane = new Uri(parse.GetValue(ControlPlane)!),
                RootCaPem = await File.ReadAllTextAsync(parse.GetValue(CaFile)!, cancellationToken),
                Token = (await File.ReadAllTextAsync(parse.GetValue(TokenFile)!, cancellationToken)).Trim(),
                WorkloadName = parse.GetValue(Workload)!,
                Namespace = parse.GetValue(Namespace)!,
                ServiceAccount = parse.GetValue(ServiceAccount)!,
                Network = parse.GetValue(Network)!,
                Cluster = parse.GetValue(Cluster)!,
                Revision = parse.GetValue(Revision)!,
                Role = role.Value,
                Labels = labels,
                Address = address,
                AppAddress = appAddress,
                Capture = parse.GetValue(Capture),
                DnsUpstream = dnsUpstream,
                ClientHelloTimeout = helloTimeout,
                MaxConnections = maxConnections,
                InlineScheduling = Environment.GetEnvironmentVariable(InlineCompletions) == "1",
                DirectHttp1 = Environment.GetEnvironmentVariable(DirectHttp1) != "0",
                DirectHttp2 = Environment.GetEnvironmentVariable(DirectHttp2) != "0",
                EventLoop = Environment.GetEnvironmentVariable(EventLoop) != "0" && Transport.LoopTransportFactory.IsSupported,
                ZeroCopySplice = Environment.GetEnvironmentVariable(ZeroCopySplice) != "0",
            };
        }
        catch (Exception e) when (e is IOException or UriFormatException or UnauthorizedAccessException)
        {
            return Fail(e.Message);
        }

        using var stop = new TerminationSignal(cancellationToken);
        ProxyServer server;
        try
        {
            server = await ProxyServer.StartAsync(options, stop.Token);
        }
        catch (OperationCanceledException)
        {
            return 0;
        }
        catch (IOException e)
        {
            return Fail($"cannot listen on {address}: {e.Message}. Is another proxy using this address?");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return Fail(e.Message);
        }

        using var heapRelease = Environment.GetEnvironmentVariable(HeapReleaseSwitch) == "0" ? null : new HeapRelease(new HeapReleaseOptions());
        var stopped = Task.Delay(Timeout.Infinite, stop.Token);
        var first = await Task.WhenAny(stopped, server.Refused);
        var exit = 0;
        if (first == server.Refused)
        {
            // A proxy the control plane will never configure (wrong revision, forged identity) should fail loudly, not idle.
            exit = Fail($"the control plane refused this proxy: {await server.Refused}");
        }
        else
        {
            try
            {
                await stopped;
            }
            catch (OperationCanceledException)
            {
            }
        }

        await server.DisposeAsync();
        return exit;
    }
}
