using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
    // ---------------------------------------------------------------- machine


    private static string MemoryTotal()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            var kb = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            return kb is null ? "unknown" : $"{long.Parse(kb, CultureInfo.InvariantCulture) / 1024.0 / 1024.0:0.0} GiB";
        }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>CPU time (user + system, seconds) of every process named postgres on this machine, from /proc (0 where unreadable).</summary>
    private static double PostgresCpuSeconds()
    {
        double ticks = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!char.IsDigit(Path.GetFileName(dir)[0])) continue;
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var close = stat.LastIndexOf(')');
                    if (close < 0 || !stat.AsSpan(0, close).EndsWith("(postgres", StringComparison.Ordinal)) continue;
                    var f = stat[(close + 2)..].Split(' ');
                    ticks += double.Parse(f[11], CultureInfo.InvariantCulture) + double.Parse(f[12], CultureInfo.InvariantCulture);
                }
                catch (IOException) { /* the process ended */ }
                catch (UnauthorizedAccessException) { /* not ours to read */ }
            }
        }
        catch (IOException) { return 0; }
        return ticks / 100.0;   // USER_HZ
    }

    private static string ReadLoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>Machine-wide busy CPU (from /proc/stat) and this process's CPU time between two points.</summary>
    private readonly record struct CpuSample(long Busy, long Steal, long Total, TimeSpan Process, long At)
    {
        public static CpuSample Take()
        {
            var (busy, steal, total) = ReadProcStat();
            using var me = System.Diagnostics.Process.GetCurrentProcess();
            return new CpuSample(busy, steal, total, me.TotalProcessorTime, Stopwatch.GetTimestamp());
        }

        /// <summary>
        /// (machine busy fraction 0..1, cores used by this process, steal fraction 0..1: time the hypervisor gave this
        /// virtual machine's cores to someone else; a run with much steal measured a slower machine).
        /// </summary>
        public (double MachineBusy, double ProcessCores, double Steal) Since()
        {
            var now = Take();
            var total = now.Total - Total;
            var busy = total > 0 ? (double)(now.Busy - Busy) / total : double.NaN;
            var steal = total > 0 ? (double)(now.Steal - Steal) / total : double.NaN;
            var wall = Stopwatch.GetElapsedTime(At, now.At).TotalSeconds;
            return (busy, wall > 0 ? (now.Process - Process).TotalSeconds / wall : double.NaN, steal);
        }

        private static (long Busy, long Steal, long Total) ReadProcStat()
        {
            try
            {
                var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                    .Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                var total = f.Sum();
                return (total - f[3] - f[4] - f[7], f[7], total);   // idle, iowait and steal are not this machine's work
            }
            catch (IOException) { return (0, 0, 0); }
        }
    }
}
