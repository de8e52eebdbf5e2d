using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Causeway.LoadBench.Load;

/// <summary>
/// Sleeps until an absolute point of <see cref="Stopwatch"/> time with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)
/// and a 1 µs timer slack: Task.Delay and Thread.Sleep wake up to a millisecond late, which an open-loop load would
/// count as latency of the system under test.
/// </summary>
public static partial class PreciseClock
{
    private const int ClockMonotonic = 1;
    private const int TimerAbsolute = 1;
    private const int SetTimerSlack = 29;

    /// <summary>How long before a deadline sleeping gives way to spinning.</summary>
    private const long SpinNanoseconds = 100_000;

    /// <summary>True when Stopwatch ticks are CLOCK_MONOTONIC nanoseconds, as .NET has them on Linux.</summary>
    public static bool Available => OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000;

    /// <summary>Makes this thread's sleeps end within about a microsecond of their deadline (the default slack is 50 µs).</summary>
    public static void TightenThisThread()
    {
        if (Available)
        {
            _ = Prctl(SetTimerSlack, 1000, 0, 0, 0);
        }
    }

    /// <summary>Blocks this thread until Stopwatch.GetTimestamp() reaches <paramref name="timestamp"/>.</summary>
    public static void SleepUntil(long timestamp)
    {
        if (!Available)
        {
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
            if (wait > TimeSpan.Zero)
            {
                Thread.Sleep(wait);
            }

            return;
        }

        // Virtual machines wake a sleeping thread tens of microseconds late whatever the slack: sleep until shortly
        // before the deadline, then spin the rest.
        var wake = timestamp - SpinNanoseconds;
        var spec = new TimeSpec { Seconds = wake / 1_000_000_000, Nanoseconds = wake % 1_000_000_000 };
        // EINTR: a signal woke us early; sleep again for what is left.
        while (ClockNanosleep(ClockMonotonic, TimerAbsolute, in spec, IntPtr.Zero) == 4)
        {
        }

        while (Stopwatch.GetTimestamp() < timestamp)
        {
            Thread.SpinWait(20);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clock, int flags, in TimeSpec request, IntPtr remain);

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
