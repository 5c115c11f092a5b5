using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
    // ---------------------------------------------------------------- profiling

    /// <summary>
    /// Listens to the in-process silo's server request activities and Npgsql's command activities (tag
    /// <c>db.query.text</c>) and groups their durations: where a transfer's time goes, and how many round trips it takes.
    /// </summary>
    private sealed class Profiler : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly ConcurrentDictionary<string, ConcurrentQueue<double>> _byKey = new(StringComparer.Ordinal);
        private volatile bool _stopped;

        public Profiler()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name is "Npgsql" or "Microsoft.AspNetCore",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = Record,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        private void Record(Activity a)
        {
            if (_stopped) return;
            string key;
            if (a.Source.Name == "Npgsql")
            {
                var sql = a.GetTagItem("db.query.text") as string ?? a.DisplayName;
                var flat = WhiteSpace().Replace(sql, " ").Trim();
                key = "db  " + (flat.Length > 70 ? flat[..70] + "…" : flat);
            }
            else
            {
                key = "http " + a.DisplayName;
            }
            _byKey.GetOrAdd(key, _ => new ConcurrentQueue<double>()).Enqueue(a.Duration.TotalMilliseconds);
        }

        public void Stop() => _stopped = true;

        public IEnumerable<(string Key, int Count, double[] Sorted)> Results() => _byKey
            .Select(kv => { var arr = kv.Value.ToArray(); Array.Sort(arr); return (kv.Key, arr.Length, arr); })
            .OrderByDescending(r => r.arr.Sum());

        public void Dispose() => _listener.Dispose();
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}
