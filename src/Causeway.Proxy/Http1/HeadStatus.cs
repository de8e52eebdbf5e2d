namespace Causeway.Proxy.Http1;

/// <summary>What a head parser made of the bytes so far.</summary>
public enum HeadStatus
{
    /// <summary>A whole head, valid and within what the direct path forwards.</summary>
    Complete,

    /// <summary>No end of head yet, and nothing wrong with the bytes so far.</summary>
    Incomplete,

    /// <summary>
    /// Not for the direct path: a request is left to Kestrel (which forwards it or answers 400/431); a response is a
    /// 502, since no one else can read it.
    /// </summary>
    NotHandled,
}
