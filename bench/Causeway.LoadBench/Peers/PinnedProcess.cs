using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Causeway.LoadBench.Peers;

/// <summary>A program run under <c>taskset -c CPUS</c> with its output in a log file, killed (with its children) on dispose.</summary>
public sealed class PinnedProcess : IDisposable
{
    private readonly Process _process;

    private PinnedProcess(Process process, string log)
    {
        _process = process;
        Log = log;
    }

    public int Pid => _process.Id;

    public string Log { get; }

    public static PinnedProcess Start(string cpus, string log, string program, params string[] args)
    {
        var info = new ProcessStartInfo("taskset") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", cpus, program }.Concat(args))
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(writer, e.Data);
        process.ErrorDataReceived += (_, e) => Write(writer, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new PinnedProcess(process, log);
    }

    /// <summary>Waits until something accepts TCP connections on <paramref name="endpoint"/>, or fails with the log.</summary>
    public async Task WaitListeningAsync(IPEndPoint endpoint, string what)
    {
        for (var i = 0; i < 200; i++)
        {
            if (_process.HasExited)
            {
                break;
            }

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(endpoint);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }

        await Task.Delay(100);
        throw new InvalidOperationException($"{what} is not listening on {endpoint}; its log ({Log}):\n{File.ReadAllText(Log)}");
    }

    public void Dispose()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private static void Write(StreamWriter writer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (writer)
        {
            writer.WriteLine(line);
        }
    }
}
