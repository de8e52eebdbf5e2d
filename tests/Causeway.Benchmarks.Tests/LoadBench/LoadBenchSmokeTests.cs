using System.Diagnostics;
using Causeway.LoadBench.Peers;

namespace Causeway.Benchmarks.Tests.LoadBench;

/// <summary>
/// A seconds-long run of the side-by-side load benchmarks (bench/run --smoke), so that they cannot rot: every scenario
/// runs against every installed peer and writes its table and plots. It checks that the figures exist and that no
/// request failed; it asserts nothing about speed.
/// </summary>
public class LoadBenchSmokeTests
{
    [TwoCpuFact]
    public async Task TheSmokeRunMeasuresEveryInstalledPeer_WithoutAFailedRequest()
    {
        var output = Directory.CreateTempSubdirectory("causeway-loadbench-smoke-");
        try
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "causeway-loadbench.dll"), "--smoke", "--output", output.FullName })
            {
                info.ArgumentList.Add(a);
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4)))
            {
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    throw;
                }
            }

            var log = await stdout + await stderr;
            Assert.True(process.ExitCode == 0, log);
            var results = await File.ReadAllTextAsync(Path.Combine(output.FullName, "results.md"));
            var peers = new List<string> { "direct", "causeway" };
            peers.AddRange(new[] { "haproxy", "nginx" }.Where(p => Testbed.Installed(p) is not null));
            foreach (var peer in peers.Append("causeway-h2"))
            {
                var b2 = Row(results, "### B2", peer);
                Assert.Equal("0", b2[7]);
                Assert.Matches(@"^\d+\.\d{3}$", b2[3]);
            }

            Assert.Matches(@"^\d+\.\d{3}$", Row(results, "### B3", "causeway")[2]);
            Assert.Matches(@"^\d+\.\d{3}$", Row(results, "### B3", "causeway-h2")[2]);
            Assert.True(File.Exists(Path.Combine(output.FullName, "b2-latency.png")), log);
            if (Testbed.Installed("wrk") is not null)
            {
                foreach (var peer in peers)
                {
                    Assert.Equal("0", Row(results, "### B1", peer)[6]);
                }

                Assert.True(File.Exists(Path.Combine(output.FullName, "b1-per-core.png")), log);
            }

            // B4: HTTP/2 end to end through every pair, then gRPC unary calls, none failed; a pair that lost the
            // trailers would count an error in every run (the checked call).
            if (Testbed.Installed("h2load") is not null)
            {
                foreach (var peer in peers)
                {
                    var b4 = Row(results, "### B4:", peer);
                    Assert.Matches(@"^[\d,]+", b4[2]);
                    Assert.Equal("0", b4[5]);
                    var grpc = Row(results, "### B4, gRPC", peer);
                    Assert.Matches(@"^[\d,]+", grpc[2]);
                    Assert.Equal("0", grpc[5]);
                }

                Assert.DoesNotContain("the checked call failed", log, StringComparison.Ordinal);
            }

            // B5: new mTLS connections at the destination of every pair, none failed.
            foreach (var peer in peers.Where(p => p != "direct"))
            {
                var b5 = Row(results, "### B5", peer);
                Assert.Matches(@"^[\d,]+", b5[2]);
                Assert.Equal("0", b5[6]);
            }

            // B5's calling side: Causeway's source sidecar opened a mesh connection for every CONNECT tunnel, none failed.
            var calling = Row(results, "### B5, calling side", "causeway");
            Assert.Matches(@"^[\d,]+", calling[2]);
            Assert.Equal("0", calling[5]);

            // B6: bytes and new connections through every passthrough peer (HAProxy twice: with and without splice), none lost.
            var passthrough = new List<string> { "direct", "causeway" };
            passthrough.AddRange(Testbed.Installed("haproxy") is null ? [] : ["haproxy", "haproxy-splice"]);
            passthrough.AddRange(Testbed.Installed("nginx") is not null && File.Exists(PeerConfigs.NginxStreamModule) ? ["nginx"] : []);
            foreach (var peer in passthrough)
            {
                var b6 = Row(results, "### B6", peer);
                Assert.Matches(@"^\d+\.\d{2}$", b6[2]);
                Assert.Matches(@"^[\d,]+$", b6[5]);
                Assert.Equal("0", b6[7]);
            }

            // B7: a figure for each percentile of the convergence changes.
            var b7 = FirstRow(results, "### B7");
            Assert.Matches(@"^\| \d+\.\d \| \d+\.\d \| \d+\.\d \| \d+\.\d \|", b7);

            // B8: every simulated sidecar got the first push, each change (in either cluster) and each full push, and the memory per proxy was measured;
            // the first push's TLS handshakes were measured alone too, and the same clients reconnecting to the running control plane.
            var b8 = Section(results, "### B8");
            Assert.Matches(@"first push to every client[^|]*\| \d+\.\d\d s", b8);
            Assert.Matches(@"TLS handshakes alone: [\d,]+ at once[^|]*\| \d+\.\d\d s \(control-plane CPU \d+\.\d s; the clients' process \d+\.\d s\)", b8);
            Assert.Matches(@"reconnecting at once to the running control plane[^|]*\| \d+\.\d\d s \(control-plane CPU \d+\.\d s; the clients' process \d+\.\d s\)", b8);
            Assert.Matches(@"push after a change in cluster 2[^|]*\| \d+\.\d\d( \(\d+\.\d\d–\d+\.\d\d\))? s", b8);
            Assert.Matches(@"push after a change in cluster 1 itself[^|]*\| \d+\.\d\d( \(\d+\.\d\d–\d+\.\d\d\))? s", b8);
            Assert.Matches(@"full push: a change to every service[^|]*\| \d+\.\d\d( \(\d+\.\d\d–\d+\.\d\d\))? s", b8);
            Assert.Matches(@"memory per connected proxy[^|]*\| -?\d+ KiB", b8);

            // The harness cleans up after itself: its work directory (the lab and the peers' files) is gone.
            Assert.False(Directory.Exists(Path.Combine(Path.GetTempPath(), $"causeway-loadbench-{process.Id}")), log);
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    /// <summary>The section from <paramref name="heading"/> to the next heading.</summary>
    private static string Section(string text, string heading)
    {
        var section = text[text.IndexOf(heading, StringComparison.Ordinal)..];
        var next = section.IndexOf("\n### ", 1, StringComparison.Ordinal);
        return next < 0 ? section : section[..next];
    }

    /// <summary>The first data row of the table under <paramref name="heading"/>.</summary>
    private static string FirstRow(string text, string heading) =>
        text[text.IndexOf(heading, StringComparison.Ordinal)..].Split('\n').Where(l => l.StartsWith('|')).Skip(2).First();

    /// <summary>The cells of a peer's row in the table under <paramref name="heading"/>.</summary>
    private static string[] Row(string markdown, string heading, string peer)
    {
        var section = markdown[markdown.IndexOf(heading, StringComparison.Ordinal)..];
        var line = section.Split('\n').First(l => l.StartsWith($"| {peer} |", StringComparison.Ordinal));
        return line.Split('|').Select(c => c.Trim()).ToArray();
    }
}

/// <summary>A fact that needs two CPUs: the load benchmarks pin the proxies to one and the load to another.</summary>
public sealed class TwoCpuFactAttribute : FactAttribute
{
    public TwoCpuFactAttribute()
    {
        if (Environment.ProcessorCount < 2)
        {
            Skip = "the load benchmarks pin proxies and load to two different CPUs; this machine has one";
        }
    }
}
