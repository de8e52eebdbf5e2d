using System.Diagnostics.Metrics;
using System.Net;

namespace Causeway.Proxy.Admin;

/// <summary>
/// Counts the connections Kestrel itself closed on this proxy's HTTP listeners, by the reason it gives
/// (<c>kestrel.connection.duration</c>'s <c>error.type</c>: stream_reset_limit_exceeded, invalid_request_headers,
/// max_frame_length_exceeded, ...), and those it refused at accept on any listener because the proxy held
/// <see cref="ProxyOptions.MaxConnections"/> (<c>kestrel.rejected_connections</c>: over_connection_limit), so that
/// they show in <c>causeway_connections_total</c> beside the proxy's own refusals.
/// </summary>
public sealed class KestrelConnectionEnds : IDisposable
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private const string ConnectionDuration = "kestrel.connection.duration";
    private const string RejectedConnections = "kestrel.rejected_connections";

    private readonly MeterListener _listener = new();
    private readonly ProxyMetrics _metrics;
    private readonly string _address;
    private readonly int _inboundPort;
    private readonly int _outboundPort;
    private readonly int _gatewayPort;

    /// <summary>Starts counting; <paramref name="address"/> is the listeners' bound address, which tells this proxy's connections from those of others in the same process.</summary>
    public KestrelConnectionEnds(ProxyMetrics metrics, IPAddress address, int inboundPort, int outboundPort, int gatewayPort)
    {
        _metrics = metrics;
        _address = address.ToString();
        _inboundPort = inboundPort;
        _outboundPort = outboundPort;
        _gatewayPort = gatewayPort;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KestrelMeter && instrument.Name is ConnectionDuration or RejectedConnections)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnConnectionEnded);
        _listener.SetMeasurementEventCallback<long>(OnConnectionRejected);
        _listener.Start();
    }

    /// <summary>The outbound HTTP listener's name in the connection counters.</summary>
    public const string OutboundListener = "outbound";

    public void Dispose() => _listener.Dispose();

    private void OnConnectionRejected(Instrument instrument, long count, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var (address, port, _) = Read(tags);
        if (address != _address)
        {
            return;
        }

        var listener = port == _gatewayPort ? Gateway.SniRouter.Listener : port == _inboundPort ? Inbound.InboundConnection.Listener : port == _outboundPort ? OutboundListener : "admin";
        _metrics.Connection(listener, "over_connection_limit", count);
    }

    private static (string? Address, int Port, string? Error) Read(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? address = null;
        string? error = null;
        var port = 0;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "server.address":
                    address = tag.Value as string;
                    break;
                case "server.port":
                    port = tag.Value is int p ? p : 0;
                    break;
                case "error.type":
                    error = tag.Value as string;
                    break;
            }
        }

        return (address, port, error);
    }

    private void OnConnectionEnded(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var (address, port, error) = Read(tags);

        // aborted_by_app is the proxy's own refusal (plaintext, bad SNI, ...), already counted with its reason.
        if (error is null || error == "aborted_by_app" || address != _address)
        {
            return;
        }

        if (port == _inboundPort)
        {
            _metrics.Connection(Inbound.InboundConnection.Listener, error);
        }
        else if (port == _outboundPort)
        {
            _metrics.Connection(OutboundListener, error);
        }
    }
}
