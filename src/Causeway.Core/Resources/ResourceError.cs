namespace Causeway.Core.Resources;

/// <summary>One problem in a resource document: where (a field path and, from YAML, a line) and what to do.</summary>
public sealed record ResourceError(string Path, string Message, int? Line = null)
{
    public override string ToString() => Line is { } line ? $"{Path} (line {line}): {Message}" : $"{Path}: {Message}";
}
