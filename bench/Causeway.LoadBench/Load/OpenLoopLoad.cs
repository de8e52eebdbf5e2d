using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HdrHistogram;

namespace Causeway.LoadBench.Load;

/// <summary>
/// An open-loop HTTP/1.1 load at a fixed request rate over keep-alive connections (wrk2's method): request k is due at
/// start + k / rate on connection k mod N, whether or not earlier ones have been answered, and its latency counts from
/// when it was due, so a stall shows as latency of every request it delayed (no coordinated omission).
/// </summary>
public sealed class OpenLoopLoad
{
    /// <summary>Latencies above this are clamped (HDR histograms have a fixed range).</summary>
    private const long HighestNanoseconds = 60_000_000_000;

    private readonly IPEndPoint _target;
    private readonly byte[] _request;

    public OpenLoopLoad(IPEndPoint target, string host, string path = "/")
    {
        _target = target;
        _request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: causeway-loadbench\r\n\r\n");
    }

    /// <summary>
    /// Runs <paramref name="rate"/> requests/s over <paramref name="connections"/> connections: <paramref name="warmup"/>
    /// unrecorded, then <paramref name="duration"/> recorded. Waits up to 5 s for the last answers.
    /// </summary>
    public async Task<LoadResult> RunAsync(int rate, int connections, TimeSpan warmup, TimeSpan duration)
    {
        var open = new List<LoadConnection>(connections);
        try
        {
            for (var i = 0; i < connections; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(_target);
                open.Add(new LoadConnection(socket, _request));
            }

            var period = (double)Stopwatch.Frequency / rate;
            var start = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 100);
            var recordFrom = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
            var end = recordFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            foreach (var c in open)
            {
                c.Start(recordFrom, end);
            }

            var lag = new LongHistogram(HighestNanoseconds, 3);
            var scheduler = new Thread(() =>
            {
                PreciseClock.TightenThisThread();
                for (long k = 0; ; k++)
                {
                    var due = start + (long)(k * period);
                    if (due >= end)
                    {
                        break;
                    }

                    PreciseClock.SleepUntil(due);
                    if (due >= recordFrom)
                    {
                        lag.RecordValue(Math.Min(HighestNanoseconds, (long)((Stopwatch.GetTimestamp() - due) * (1e9 / Stopwatch.Frequency))));
                    }

                    open[(int)(k % open.Count)].Schedule(due);
                }
            }) { IsBackground = true, Name = "open-loop scheduler", Priority = ThreadPriority.Highest };
            scheduler.Start();
            await Task.Run(scheduler.Join);

            var deadline = Stopwatch.GetTimestamp() + (5 * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < deadline && open.Exists(c => c.Busy))
            {
                await Task.Delay(10);
            }

            var latency = new LongHistogram(HighestNanoseconds, 3);
            long sent = 0, completed = 0, failed = 0, notCompleted = 0;
            foreach (var c in open)
            {
                var s = c.Stop();
                latency.Add(s.Latency);
                sent += s.Sent;
                completed += s.Completed;
                failed += s.Failed;
                notCompleted += s.Outstanding;
            }

            return new LoadResult(latency, lag, sent, completed, failed, notCompleted, duration);
        }
        finally
        {
            foreach (var c in open)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>One keep-alive connection: one request in flight at a time, the rest queued with their due times.</summary>
    private sealed class LoadConnection(Socket socket, byte[] request) : IDisposable
    {
        private readonly object _gate = new();
        private readonly Queue<long> _waiting = new();
        private readonly LongHistogram _latency = new(HighestNanoseconds, 3);
        private readonly byte[] _buffer = new byte[256 * 1024];
        private long _inFlightDue = -1;
        private long _recordFrom;
        private long _end;
        private long _sent;
        private long _completed;
        private long _failed;
        private bool _broken;

        public bool Busy
        {
            get
            {
                lock (_gate)
                {
                    return !_broken && (_inFlightDue >= 0 || _waiting.Count > 0);
                }
            }
        }

        public void Start(long recordFrom, long end)
        {
            _recordFrom = recordFrom;
            _end = end;
            // A blocking receive on its own thread wakes within microseconds of the answer; an async receive would add
            // the thread pool's dispatch to every latency.
            new Thread(Receive) { IsBackground = true, Name = "open-loop receiver" }.Start();
        }

        public void Schedule(long due)
        {
            lock (_gate)
            {
                if (_broken)
                {
                    CountIfRecorded(due, ref _failed);
                    return;
                }

                if (_inFlightDue >= 0)
                {
                    _waiting.Enqueue(due);
                    return;
                }

                Send(due);
            }
        }

        public (HistogramBase Latency, long Sent, long Completed, long Failed, long Outstanding) Stop()
        {
            lock (_gate)
            {
                var outstanding = _waiting.Count + (_inFlightDue >= _recordFrom ? 1 : 0);
                return (_latency, _sent, _completed, _failed, outstanding);
            }
        }

        public void Dispose() => socket.Dispose();

        private void Send(long due)
        {
            _inFlightDue = due;
            CountIfRecorded(due, ref _sent);
            try
            {
                socket.Send(request);
            }
            catch (SocketException)
            {
                Break();
            }
        }

        private void CountIfRecorded(long due, ref long counter)
        {
            if (due >= _recordFrom && due < _end)
            {
                counter++;
            }
        }

        private void Receive()
        {
            var length = 0;
            try
            {
                while (true)
                {
                    var read = socket.Receive(_buffer.AsSpan(length), SocketFlags.None);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                    while (length > 0)
                    {
                        var used = HttpResponseReader.TryRead(_buffer.AsSpan(0, length), out var status);
                        if (used < 0)
                        {
                            lock (_gate)
                            {
                                Break();
                            }

                            return;
                        }

                        if (used == 0)
                        {
                            break;
                        }

                        Answered(status);
                        _buffer.AsSpan(used, length - used).CopyTo(_buffer);
                        length -= used;
                    }

                    if (length == _buffer.Length)
                    {
                        break;
                    }
                }
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            lock (_gate)
            {
                Break();
            }
        }

        private void Answered(int status)
        {
            var now = Stopwatch.GetTimestamp();
            lock (_gate)
            {
                var due = _inFlightDue;
                _inFlightDue = -1;
                if (due >= _recordFrom && due < _end)
                {
                    if (status is >= 200 and < 300)
                    {
                        _completed++;
                        _latency.RecordValue(Math.Min(HighestNanoseconds, (long)((now - due) * (1e9 / Stopwatch.Frequency))));
                    }
                    else
                    {
                        _failed++;
                    }
                }

                if (_waiting.TryDequeue(out var next))
                {
                    Send(next);
                }
            }
        }

        /// <summary>The connection is gone: what was in flight or waiting on it failed.</summary>
        private void Break()
        {
            if (_broken)
            {
                return;
            }

            _broken = true;
            if (_inFlightDue >= 0)
            {
                CountIfRecorded(_inFlightDue, ref _failed);
                _inFlightDue = -1;
            }

            while (_waiting.TryDequeue(out var due))
            {
                CountIfRecorded(due, ref _failed);
            }
        }
    }
}
