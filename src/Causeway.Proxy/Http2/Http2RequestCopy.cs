using System.Buffers;

namespace Causeway.Proxy.Http2;

/// <summary>
/// A copy of a proxied request's body and trailers, kept while no response has started, for sending the request again
/// on a new stream when the upstream refused it unprocessed. DATA frame boundaries are not kept: HTTP/2 lets a body be
/// framed afresh. A mutable struct held in the stream it copies (<see cref="Http2ProxyStream"/>, or
/// <see cref="Http1.UpgradedRequestStream"/> for a body it read on from its client) and used under that stream's lock;
/// its buffers are pooled.
/// </summary>
internal struct Http2RequestCopy
{
    private byte[]? _body;
    private byte[]? _trailers;
    private int _trailersLength;

    /// <summary>Body bytes copied.</summary>
    public int BodyLength { get; private set; }

    /// <summary>The request outgrew the limit: the copy was dropped and the request cannot be sent again.</summary>
    public bool Lost { get; private set; }

    /// <summary>Copies body bytes, or drops the copy for good once the body passes <paramref name="limit"/>.</summary>
    public void AddBody(ReadOnlySpan<byte> data, int limit)
    {
        if (Lost || data.IsEmpty)
        {
            return;
        }

        var length = BodyLength + data.Length;
        if (length > limit)
        {
            Release();
            Lost = true;
            return;
        }

        if (_body is null || _body.Length < length)
        {
            var grown = ArrayPool<byte>.Shared.Rent(Math.Min(limit, Math.Max(length, (_body?.Length ?? 0) * 2)));
            if (_body is not null)
            {
                _body.AsSpan(0, BodyLength).CopyTo(grown);
                ArrayPool<byte>.Shared.Return(_body);
            }

            _body = grown;
        }

        data.CopyTo(_body.AsSpan(BodyLength));
        BodyLength = length;
    }

    /// <summary>Copies the request's trailers (a header block, which ends the request).</summary>
    public void AddTrailers(ReadOnlySpan<byte> block)
    {
        if (Lost)
        {
            return;
        }

        _trailers = ArrayPool<byte>.Shared.Rent(block.Length);
        block.CopyTo(_trailers);
        _trailersLength = block.Length;
    }

    /// <summary>
    /// Puts the request, as copied so far, in <paramref name="request"/>'s queue in place of what was still queued for
    /// the refused stream (whose bytes went nowhere), then the trailers, with END_STREAM where the request had it (its
    /// HEADERS did not carry it). With <paramref name="senderCredited"/> the sender (an HTTP/2 client) was credited for
    /// the bytes that went when they went, so those are marked credited, and only the bytes that were still queued
    /// credit it as they leave now.
    /// </summary>
    public readonly void RequeueOn(ref Http2StreamDirection request, bool senderCredited)
    {
        var queued = request.Pending?.Clear() ?? 0;
        var pending = request.Pending ??= new();
        var credited = senderCredited ? BodyLength - queued : 0;
        var body = _body.AsSpan(0, BodyLength);
        var endsWithBody = request.Ended && _trailers is null;
        if (credited > 0)
        {
            pending.EnqueueData(body[..credited], endStream: endsWithBody && credited == BodyLength, credited: true);
        }

        if (credited < BodyLength || (endsWithBody && BodyLength == 0))
        {
            pending.EnqueueData(body[credited..], endStream: endsWithBody);
        }

        if (_trailers is not null)
        {
            pending.EnqueueHeaders(_trailers.AsSpan(0, _trailersLength), endStream: true);
        }
    }

    /// <summary>Returns the buffers; the copy is no longer needed (the response started, or the stream ended).</summary>
    public void Release()
    {
        BodyLength = 0;
        if (_body is not null)
        {
            ArrayPool<byte>.Shared.Return(_body);
            _body = null;
        }

        if (_trailers is not null)
        {
            ArrayPool<byte>.Shared.Return(_trailers);
            _trailers = null;
        }
    }
}
