namespace Causeway.Proxy.Http2;

/// <summary>
/// One direction of a proxied stream (the request, client to upstream; or the response, back): what waits to be sent,
/// the receiving peer's window for it, the window the sending peer still has, and what of that is owed back. A mutable
/// struct held in the <see cref="Http2ProxyStream"/> and used under its lock.
/// </summary>
internal struct Http2StreamDirection
{
    /// <summary>Frames not sent yet, in order (made when first needed).</summary>
    public Http2PendingFrames? Pending;

    /// <summary>The receiving peer's flow-control window for this stream.</summary>
    public int SendWindow;

    /// <summary>What the sending peer may still send on this stream.</summary>
    public int ReceiveWindow;

    /// <summary>Bytes passed on (or dropped) that the sending peer has not been credited for.</summary>
    public int Uncredited;

    /// <summary>END_STREAM came from the sending peer.</summary>
    public bool Ended;

    /// <summary>END_STREAM went on to the receiving peer.</summary>
    public bool EndSent;

    public readonly bool HasPending => Pending is { IsEmpty: false };

    /// <summary>
    /// Body bytes from the sending peer: sent at once as far as the windows allow when nothing waits before them
    /// (copied from the read buffer straight into <paramref name="to"/>'s), the rest queued, all of it when there is
    /// no <paramref name="to"/> yet (the upstream stream is not open); true when all went.
    /// </summary>
    public bool SendOrQueue(Http2Connection? to, int toId, Http2Stream stream, Http2Connection? from, int fromId, ReadOnlySpan<byte> data, bool endStream, bool senderOpen)
    {
        if (to is not null && !HasPending)
        {
            var n = SendData(to, toId, stream, from, fromId, data, endStream, senderOpen);
            if (n == data.Length)
            {
                EndSent |= endStream;
                return true;
            }

            data = data[Math.Max(n, 0)..];
        }

        (Pending ??= new()).EnqueueData(data, endStream);
        return false;
    }

    /// <summary>A header block (a head or trailers): sent at once when nothing waits before it, else queued behind (or for a <paramref name="to"/> not there yet); true when sent.</summary>
    public bool SendOrQueueHeaders(Http2Connection? to, int toId, ReadOnlySpan<byte> block, bool endStream)
    {
        if (to is not null && !HasPending)
        {
            var sent = to.WriteHeaders(toId, block, endStream);
            EndSent |= sent && endStream;
            return sent;
        }

        (Pending ??= new()).EnqueueHeaders(block, endStream);
        return false;
    }

    /// <summary>
    /// Sends what waits on <paramref name="to"/> as the windows and the connection's room allow, crediting
    /// <paramref name="from"/> for each body byte (none when the proxy wrote the bytes itself: <paramref name="from"/>
    /// null); true when nothing is left waiting.
    /// </summary>
    public bool Pump(Http2Connection to, int toId, Http2Stream stream, Http2Connection? from, int fromId, bool senderOpen)
    {
        if (Pending is null)
        {
            return true;
        }

        while (!Pending.IsEmpty)
        {
            var entry = Pending.Peek();
            if (entry.IsHeaders)
            {
                if (!to.WriteHeaders(toId, entry.Span, entry.EndStream))
                {
                    return false;
                }

                Pending.Advance(entry.Length);
                EndSent |= entry.EndStream;
                continue;
            }

            var n = SendData(to, toId, stream, entry.Credited ? null : from, fromId, entry.Span, entry.EndStream, senderOpen);
            if (n < 0 || (n == 0 && entry.Length > 0))
            {
                return false;
            }

            Pending.Advance(n);
            if (n < entry.Length)
            {
                return false;
            }

            EndSent |= entry.EndStream;
        }

        return true;
    }

    /// <summary>Widens the send window by a WINDOW_UPDATE's or a SETTINGS change's <paramref name="delta"/>; false if that passes 2^31-1.</summary>
    public bool TryWiden(int delta)
    {
        if ((long)SendWindow + delta > int.MaxValue)
        {
            return false;
        }

        SendWindow += delta;
        return true;
    }

    /// <summary>Writes what the windows allow of <paramref name="data"/> on <paramref name="to"/> and credits the sender for it; the bytes written, -1 if <paramref name="to"/> is closed.</summary>
    private int SendData(Http2Connection to, int toId, Http2Stream stream, Http2Connection? from, int fromId, ReadOnlySpan<byte> data, bool endStream, bool senderOpen)
    {
        var n = to.WriteData(toId, data, endStream, SendWindow, stream);
        if (n > 0)
        {
            SendWindow -= n;
            if (from is not null)
            {
                Credit(from, fromId, n, connection: true, senderOpen);
            }
        }

        return n;
    }

    public readonly string Describe(string to) =>
        $"{to} window {SendWindow}, queued {Pending?.DataBytes} (empty {Pending?.IsEmpty ?? true}), receive window {ReceiveWindow}, uncredited {Uncredited}, ended {Ended}, end sent {EndSent}";

    /// <summary>
    /// The sending peer is owed <paramref name="bytes"/> it sent that went on (or were dropped): the connection's share
    /// through <paramref name="from"/>'s own credit; the stream's by a WINDOW_UPDATE once half the stream's window is
    /// owed, or as soon as less than half of it is left (holding it back then deadlocked a path whose every window sat
    /// in queues), while more may come (<paramref name="senderOpen"/>, the stream not ended).
    /// </summary>
    public void Credit(Http2Connection from, int fromId, int bytes, bool connection, bool senderOpen)
    {
        if (connection && bytes > 0)
        {
            from.Credit(bytes);
        }

        Uncredited += bytes;
        var half = from.Limits.StreamWindow / 2;
        if (senderOpen && !Ended && Uncredited > 0 && (Uncredited >= half || ReceiveWindow < half))
        {
            from.WriteWindowUpdate(fromId, Uncredited);
            ReceiveWindow += Uncredited;
            Uncredited = 0;
        }
    }
}
