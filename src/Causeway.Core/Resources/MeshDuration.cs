using System.Globalization;

namespace Causeway.Core.Resources;

/// <summary>Parses durations as Istio's YAML writes them: <c>10s</c>, <c>500ms</c>, <c>1m</c>, <c>1h</c>, <c>1.5s</c>.</summary>
public static class MeshDuration
{
    /// <summary>False when the text is not a non-negative number followed by ms, s, m or h.</summary>
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = default;
        var unitStart = text.Length;
        while (unitStart > 0 && char.IsAsciiLetter(text[unitStart - 1]))
        {
            unitStart--;
        }

        if (unitStart == 0 || !double.TryParse(text.AsSpan(0, unitStart), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        double? ms = text[unitStart..] switch
        {
            "ms" => n,
            "s" => n * 1000,
            "m" => n * 60_000,
            "h" => n * 3_600_000,
            _ => null,
        };
        if (ms is null)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(ms.Value);
        return true;
    }
}
