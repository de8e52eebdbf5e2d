using System.Buffers;

namespace Causeway.Proxy.Http2;

/// <summary>
/// A copy of a proxied request's body and trailers, kept while no response has started, for sending the request again
/// on a new stream when the upstream refused it unprocessed. DATA frame boundaries are not kept: HTTP/2 lets a body be
/// framed afresh. A mutable struct held in the <see cref="Http2ProxyStream"/> and used under its lock; its buffers are pooled.
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
    /// Queues the request as copied so far on <paramref name="pending"/>, which must be empty: the first
    /// <paramref name="credited"/> body bytes marked as credited to the client already, then the rest, then the
    /// trailers; END_STREAM where the request had it (<paramref name="ended"/>, and its HEADERS did not carry it).
    /// </summary>
    public readonly void QueueOn(Http2PendingFrames pending, int credited, bool ended)
    {
        var body = _body.AsSpan(0, BodyLength);
        var endsWithBody = ended && _trailers is null;
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
