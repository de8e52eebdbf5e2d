namespace Causeway.ControlPlane.Registry;

/// <summary>A kubectl-style equality label selector, <c>app=helloworld,version!=v2</c>.</summary>
public sealed class LabelSelectorExpression
{
    private readonly List<(string Key, string? Value, bool Equal)> _terms;

    private LabelSelectorExpression(List<(string, string?, bool)> terms) => _terms = terms;

    public static readonly LabelSelectorExpression Everything = new([]);

    /// <summary>Parses the selector; throws <see cref="FormatException"/> naming the bad term.</summary>
    public static LabelSelectorExpression Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var terms = new List<(string, string?, bool)>();
        foreach (var raw in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var ne = raw.IndexOf("!=", StringComparison.Ordinal);
            var eq = raw.IndexOf('=', StringComparison.Ordinal);
            if (ne > 0)
            {
                terms.Add((raw[..ne].Trim(), raw[(ne + 2)..].Trim(), false));
            }
            else if (eq > 0)
            {
                var value = raw[(eq + 1)..].TrimStart('=').Trim();
                terms.Add((raw[..eq].Trim(), value, true));
            }
            else if (raw.StartsWith('!'))
            {
                terms.Add((raw[1..], null, false));
            }
            else if (raw.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/'))
            {
                terms.Add((raw, null, true));
            }
            else
            {
                throw new FormatException($"label selector term '{raw}' is not key=value, key!=value, key or !key");
            }
        }

        return new LabelSelectorExpression(terms);
    }

    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (key, value, equal) in _terms)
        {
            var has = labels.TryGetValue(key, out var actual);
            var match = value is null ? has : has && actual == value;
            if (match != equal)
            {
                return false;
            }
        }

        return true;
    }
}
