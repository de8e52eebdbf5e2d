using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Causeway.Core.Yaml;

/// <summary>Writes JSON nodes as block YAML, quoting strings that YAML would otherwise read as numbers, booleans or null.</summary>
internal static class JsonYamlWriter
{
    public static void Write(IEmitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                emitter.Emit(new Scalar(null, null, "null", ScalarStyle.Plain, true, false));
                break;
            case JsonObject obj:
                emitter.Emit(new MappingStart(null, null, false, MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    emitter.Emit(new Scalar(key));
                    Write(emitter, value);
                }

                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                emitter.Emit(new SequenceStart(null, null, false, SequenceStyle.Block));
                foreach (var item in array)
                {
                    Write(emitter, item);
                }

                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                var s = value.GetValue<string>();
                var style = s.Contains('\n', StringComparison.Ordinal) ? ScalarStyle.Literal : NeedsQuotes(s) ? ScalarStyle.DoubleQuoted : ScalarStyle.Plain;
                emitter.Emit(new Scalar(null, null, s, style, true, true));
                break;
            default:
                emitter.Emit(new Scalar(null, null, node.ToJsonString(), ScalarStyle.Plain, true, false));
                break;
        }
    }

    private static bool NeedsQuotes(string s) =>
        s.Length == 0 || s is "~" or "null" or "true" or "false" or "True" or "False" or "yes" or "no" ||
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ||
        "*&!|>'\"%@`#{}[],?:-".Contains(s[0], StringComparison.Ordinal) || s.Contains(": ", StringComparison.Ordinal) || s.Contains(" #", StringComparison.Ordinal);
}
