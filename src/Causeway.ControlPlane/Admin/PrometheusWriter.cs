using System.Globalization;
using System.Text;

namespace Causeway.ControlPlane.Admin;

/// <summary>Writes metrics in the Prometheus text exposition format, one HELP and TYPE line per family.</summary>
public sealed class PrometheusWriter
{
    private readonly StringBuilder _text = new();
    private readonly HashSet<string> _described = [];

    public void Counter(string name, string help, double value, params (string Key, string Value)[] labels) => Write(name, "counter", help, value, labels);

    public void Gauge(string name, string help, double value, params (string Key, string Value)[] labels) => Write(name, "gauge", help, value, labels);

    public override string ToString() => _text.ToString();

    private void Write(string name, string type, string help, double value, (string Key, string Value)[] labels)
    {
        if (_described.Add(name))
        {
            _text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            _text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        }

        _text.Append(name);
        if (labels.Length > 0)
        {
            _text.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                var escaped = labels[i].Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
                _text.Append(i > 0 ? "," : "").Append(labels[i].Key).Append("=\"").Append(escaped).Append('"');
            }

            _text.Append('}');
        }

        _text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}
