using ScottPlot;

namespace Causeway.LoadBench.Report;

/// <summary>The report's PNG charts: B2's latency percentiles per peer and B1's requests per proxy core.</summary>
public static class Plots
{
    private static readonly Color[] Palette = [Colors.SteelBlue, Colors.DarkOrange, Colors.SeaGreen];

    /// <summary>Writes the charts the results have data for into <paramref name="dir"/>; returns their file names.</summary>
    public static List<string> Write(ResultsReport report, string dir)
    {
        var written = new List<string>();
        var latencyPeers = report.Peers("B2").ToList();
        if (latencyPeers.Count > 0)
        {
            var series = new (string Name, Func<Measure.Measurement, double> Value)[] { ("p50", m => m.P50), ("p90", m => m.P90), ("p99", m => m.P99) };
            Grouped(dir, "b2-latency.png", "B2: latency through the pair (median of runs)", "milliseconds", latencyPeers,
                series.Select(s => (s.Name, latencyPeers.Select(p => Spread.Of(report.Of("B2", p).Select(s.Value)).Median).ToArray())).ToList());
            written.Add("b2-latency.png");
        }

        var saturationPeers = report.Peers("B1").Where(p => p != "direct").ToList();
        if (saturationPeers.Count > 0)
        {
            Grouped(dir, "b1-per-core.png", "B1: HTTP/1.1 requests per proxy CPU-second (median of runs)", "requests per CPU-second", saturationPeers,
                [("req per CPU-s", saturationPeers.Select(p => Spread.Of(report.Of("B1", p).Select(m => m.RequestsPerCpuSecond)).Median).ToArray())]);
            written.Add("b1-per-core.png");
        }

        return written;
    }

    private static void Grouped(string dir, string file, string title, string yLabel, List<string> groups, List<(string Name, double[] Values)> series)
    {
        var plot = new Plot();
        var bars = new List<Bar>();
        var width = 0.8 / series.Count;
        for (var s = 0; s < series.Count; s++)
        {
            for (var g = 0; g < groups.Count; g++)
            {
                var value = series[s].Values[g];
                bars.Add(new Bar
                {
                    Position = g + ((s - ((series.Count - 1) / 2.0)) * width),
                    Value = double.IsNaN(value) ? 0 : value,
                    Size = width * 0.9,
                    FillColor = Palette[s % Palette.Length],
                });
            }

            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s].Name, FillColor = Palette[s % Palette.Length] });
        }

        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, groups.Count).Select(i => (double)i).ToArray(), groups.ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel(yLabel);
        if (series.Count > 1)
        {
            plot.ShowLegend(Alignment.UpperLeft);
        }

        plot.SavePng(Path.Combine(dir, file), 900, 500);
    }
}
