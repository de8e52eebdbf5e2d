using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Causeway.Core.Yaml;

/// <summary>
/// Turns YAML documents into JSON nodes, remembering the line of every field so that errors found later, against
/// the JSON, can still point at the user's YAML. Plain scalars get YAML 1.2 core-schema types; quoted ones stay strings.
/// </summary>
internal static class YamlJsonConverter
{
    /// <summary>One YAML document as JSON, with the line of each field path (<c>spec.servers[0].tls</c>).</summary>
    public sealed record Document(int Index, int Line, JsonNode? Root, IReadOnlyDictionary<string, int> Lines);

    /// <summary>Reads every document in a YAML stream; a YAML syntax error throws <see cref="YamlException"/> with its position.</summary>
    public static List<Document> Read(string yaml)
    {
        CheckNesting(yaml);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet reports some malformed input from its scanner's and parser's internal states (found by fuzzing).
            throw new YamlException(Mark.Empty, Mark.Empty, $"the YAML cannot be read: {e.Message}");
        }

        var documents = new List<Document>();
        for (var i = 0; i < stream.Documents.Count; i++)
        {
            var root = stream.Documents[i].RootNode;
            var lines = new Dictionary<string, int>();
            var json = Convert(root, "", lines);
            documents.Add(new Document(i + 1, (int)root.Start.Line, json, lines));
        }

        return documents;
    }

    /// <summary>Deepest nesting a document may have of flow collections ([ ] and { }), and of block collections opened on one line ("- - -", "? ? ?"); no resource needs more than a few.</summary>
    public const int MaxNesting = 64;

    /// <summary>
    /// Refuses nesting deeper than <see cref="MaxNesting"/> before YamlDotNet sees it: its scanner and parser recurse
    /// per level, and 200,000 '[' or 100,000 "- " on one line overflowed the stack, which no catch survives (found by
    /// fuzzing). Nesting by indentation needs a column per level, so it cannot get that deep in a document of sane size.
    /// The count is lexical (quotes and comments skipped): it can only over-count indicators inside plain scalars.
    /// </summary>
    private static void CheckNesting(string yaml)
    {
        var (depth, line, lineStart, compact) = (0, 1, true, 0);
        var quote = '\0';
        for (var i = 0; i < yaml.Length; i++)
        {
            var c = yaml[i];
            if (quote != '\0')
            {
                if (c == '\\' && quote == '"')
                {
                    i++;
                }
                else if (c == quote)
                {
                    quote = '\0';
                }
                else if (c == '\n')
                {
                    line++;
                }

                continue;
            }

            if (c == '\n')
            {
                (line, lineStart, compact) = (line + 1, true, 0);
                continue;
            }

            // Only where a node can start is a quote the start of a quoted scalar ("it's" is a plain one).
            var nodeStart = i == 0 || char.IsWhiteSpace(yaml[i - 1]) || yaml[i - 1] is '[' or '{' or ',';
            var indicator = (c is '-' or '?') && nodeStart && (i + 1 == yaml.Length || char.IsWhiteSpace(yaml[i + 1]));
            if (lineStart && indicator && ++compact > MaxNesting)
            {
                Refuse(i, line);
            }

            if (lineStart && nodeStart && c is '!' or '&')
            {
                // A tag or an anchor may sit between two indicators ("- !t - !t"): skip it whole.
                while (i + 1 < yaml.Length && !char.IsWhiteSpace(yaml[i + 1]))
                {
                    i++;
                }

                continue;
            }

            if (lineStart && !indicator && !char.IsWhiteSpace(c))
            {
                lineStart = false;
            }

            switch (c)
            {
                case '"' or '\'' when nodeStart:
                    quote = c;
                    break;
                case '#' when nodeStart:
                    while (i + 1 < yaml.Length && yaml[i + 1] != '\n')
                    {
                        i++;
                    }

                    break;
                case '[' or '{':
                    if (++depth > MaxNesting)
                    {
                        Refuse(i, line);
                    }

                    break;
                case ']' or '}':
                    depth = Math.Max(0, depth - 1);
                    break;
            }
        }
    }

    private static void Refuse(int index, int line)
    {
        var mark = new Mark(index, line, 1);
        throw new YamlException(mark, mark, $"lists and mappings are nested more than {MaxNesting} deep");
    }

    private static JsonNode? Convert(YamlNode node, string path, Dictionary<string, int> lines)
    {
        lines.TryAdd(path, (int)node.Start.Line);
        switch (node)
        {
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                foreach (var (keyNode, valueNode) in mapping.Children)
                {
                    if (keyNode is not YamlScalarNode { Value: var key })
                    {
                        throw new YamlException(keyNode.Start, keyNode.End, $"a key under '{(path.Length == 0 ? "(top)" : path)}' is a mapping or a list; keys must be plain names");
                    }

                    key ??= "";
                    var childPath = path.Length == 0 ? key : $"{path}.{key}";
                    if (obj.ContainsKey(key))
                    {
                        throw new YamlException(keyNode.Start, keyNode.End, $"field '{childPath}' appears twice");
                    }

                    obj[key] = Convert(valueNode, childPath, lines);
                }

                return obj;
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    array.Add(Convert(sequence.Children[i], $"{path}[{i}]", lines));
                }

                return array;
            case YamlScalarNode scalar:
                return Scalar(scalar);
            default:
                throw new YamlException(node.Start, node.End, "aliases are not supported in resource documents");
        }
    }

    private static JsonValue? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style is not ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }

        if (text.Any(char.IsAsciiDigit) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) && !text.Contains(':', StringComparison.Ordinal))
        {
            // Not infinite: 9E443 overflows a double, which JSON cannot hold (found by fuzzing); it stays text and is refused as such.
            return JsonValue.Create(d);
        }

        return JsonValue.Create(text);
    }
}
