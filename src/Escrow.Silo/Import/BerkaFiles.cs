using System.Globalization;
using System.Text;

namespace Escrow.Silo.Import;

/// <summary>Reads the <c>;</c>-separated, quoted, Latin-1 files of the PKDD'99 data set.</summary>
public static class BerkaFiles
{
    public static async Task<IReadOnlyList<BerkaAccount>> ReadAccountsAsync(string path, CancellationToken ct)
    {
        var list = new List<BerkaAccount>();
        await foreach (var (line, f) in RowsAsync(path, "account_id", 4, ct).ConfigureAwait(false))
            list.Add(new BerkaAccount(Long(f[0], path, line), (int)Long(f[1], path, line), f[2], Date(f[3], path, line)));
        return list;
    }

    public static async Task<IReadOnlyList<BerkaTransaction>> ReadTransactionsAsync(string path, CancellationToken ct)
    {
        var list = new List<BerkaTransaction>();
        await foreach (var (line, f) in RowsAsync(path, "trans_id", 10, ct).ConfigureAwait(false))
            list.Add(new BerkaTransaction(Long(f[0], path, line), Long(f[1], path, line), Date(f[2], path, line),
                f[3], f[4], Money(f[5], path, line), Money(f[6], path, line), f[7], f[8], f[9]));
        return list;
    }

    private static async IAsyncEnumerable<(int Line, string[] Fields)> RowsAsync(
        string path, string firstHeader, int columns, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var reader = new StreamReader(path, Encoding.Latin1);
        var n = 0;
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } text)
        {
            n++;
            if (text.Length == 0) continue;
            var fields = Split(text);
            if (n == 1 && fields.Length > 0 && fields[0] == firstHeader) continue;
            if (fields.Length != columns)
                throw new FormatException($"{path}:{n}: expected {columns} fields, found {fields.Length}");
            yield return (n, fields);
        }
    }

    /// <summary>Splits one line on <c>;</c> outside quotes; <c>""</c> inside quotes is a quote. Fields are trimmed (the source pads some k_symbols with a blank).</summary>
    internal static string[] Split(string line)
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else sb.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ';') { fields.Add(sb.ToString().Trim()); sb.Clear(); }
            else sb.Append(c);
        }
        fields.Add(sb.ToString().Trim());
        return [.. fields];
    }

    private static long Long(string s, string path, int line) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
        : throw new FormatException($"{path}:{line}: '{s}' is not a number");

    private static decimal Money(string s, string path, int line) =>
        decimal.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) ? v
        : throw new FormatException($"{path}:{line}: '{s}' is not an amount");

    /// <summary>YYMMDD of the 1990s (the data set covers 1993-1998).</summary>
    private static DateOnly Date(string s, string path, int line) =>
        DateOnly.TryParseExact("19" + s, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d
        : throw new FormatException($"{path}:{line}: '{s}' is not a YYMMDD date");
}
