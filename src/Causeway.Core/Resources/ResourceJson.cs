using System.Collections;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Causeway.Core.Resources;

/// <summary>The JSON settings of resource documents: camelCase, strict on unknown fields, quiet about empty ones.</summary>
public static class ResourceJson
{
    /// <summary>Options used for every document read or written.</summary>
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DictionaryKeyPolicy = null,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            NumberHandling = JsonNumberHandling.AllowReadingFromString,
            // "hosts:" with nothing after it is null in YAML; a non-nullable field must refuse it, not hold it (found by fuzzing).
            RespectNullableAnnotations = true,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { OmitEmptyCollections } },
        };
        options.Converters.Add(new ScalarStringConverter());
        options.Converters.Add(new StringMapConverter());
        options.MakeReadOnly();
        return options;
    }

    private static void OmitEmptyCollections(JsonTypeInfo info)
    {
        foreach (var property in info.Properties)
        {
            if (property.PropertyType != typeof(string) && typeof(IEnumerable).IsAssignableFrom(property.PropertyType))
            {
                property.ShouldSerialize = (_, value) => value is IEnumerable e && e.GetEnumerator().MoveNext();
            }
        }
    }

    /// <summary>The message that marks a required value left empty (Bind turns it into "is empty").</summary>
    internal const string EmptyValue = "doesn't allow setting null values";

    /// <summary>
    /// Labels, selectors and annotations: a mapping of names to text in which no value may be left empty
    /// (<c>labels: {app: }</c>), as Kubernetes requires; a null there once reached code that read it (found by fuzzing).
    /// </summary>
    private sealed class StringMapConverter : JsonConverter<IReadOnlyDictionary<string, string>>
    {
        public override IReadOnlyDictionary<string, string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException("expected a mapping of names to values");
            }

            var map = new Dictionary<string, string>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var key = reader.GetString()!;
                reader.Read();
                map[key] = JsonSerializer.Deserialize<string>(ref reader, options) ?? throw new JsonException($"the value of '{key}' {EmptyValue}");
            }

            return map;
        }

        public override void Write(Utf8JsonWriter writer, IReadOnlyDictionary<string, string> value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            foreach (var (key, text) in value)
            {
                writer.WriteString(key, text);
            }

            writer.WriteEndObject();
        }
    }

    /// <summary>YAML writes <c>version: 1</c> or <c>enabled: true</c> where a string is meant; accept those as text.</summary>
    private sealed class ScalarStringConverter : JsonConverter<string>
    {
        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
            JsonTokenType.True => "true",
            JsonTokenType.False => "false",
            JsonTokenType.Null => null,
            _ => throw new JsonException("expected a string"),
        };

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }
}
