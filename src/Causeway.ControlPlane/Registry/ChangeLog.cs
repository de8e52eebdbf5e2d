using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using Causeway.Core.Resources;

namespace Causeway.ControlPlane.Registry;

/// <summary>
/// The keys a cluster's resources changed by, in order, since a remote's last complete list or since the local
/// registry was loaded: what lets a topology (or the local policies) built from an earlier state of the cluster visit
/// only those keys, where finding them among its resources meant walking all of them (30,000 in B8, a third of a
/// push's topology build). Immutable; only the newest <see cref="Capacity"/> keys are kept, and a new list starts a new
/// log that no earlier one can be read against.
/// </summary>
public sealed class ChangeLog
{
    /// <summary>How many keys a log keeps: a state further behind than this is built from its resources again.</summary>
    public const int Capacity = 1024;

    private readonly object _lineage;
    private readonly long _start;
    private readonly ImmutableList<ResourceKey> _keys;

    private ChangeLog(object lineage, long start, ImmutableList<ResourceKey> keys)
    {
        _lineage = lineage;
        _start = start;
        _keys = keys;
    }

    /// <summary>The log of a cluster's state just after a complete list (or the local registry's load).</summary>
    public static ChangeLog Start() => new(new object(), 0, []);

    /// <summary>How many changes have been logged since the list.</summary>
    public long End => _start + _keys.Count;

    /// <summary>This log with one more change.</summary>
    public ChangeLog Append(ResourceKey key)
    {
        var keys = _keys.Add(key);
        return keys.Count > Capacity ? new(_lineage, _start + 1, keys.RemoveAt(0)) : new(_lineage, _start, keys);
    }

    /// <summary>
    /// The keys changed since <paramref name="earlier"/> (a log this one grew from), when there are at most
    /// <paramref name="limit"/> of them; false when <paramref name="earlier"/> is of another list, or too far behind.
    /// </summary>
    public bool TryGetSince(ChangeLog earlier, int limit, out List<ResourceKey> keys)
    {
        keys = [];
        if (!ReferenceEquals(earlier._lineage, _lineage) || earlier.End < _start || earlier.End > End || End - earlier.End > limit)
        {
            return false;
        }

        for (var i = (int)(earlier.End - _start); i < _keys.Count; i++)
        {
            keys.Add(_keys[i]);
        }

        return true;
    }

    /// <summary>
    /// True when every key changed since <paramref name="earlier"/> is known and none is a <paramref name="match"/>:
    /// what was derived from the state of <paramref name="earlier"/>, and only such keys affect, still holds.
    /// </summary>
    public bool NoneSince([NotNullWhen(true)] ChangeLog? earlier, Predicate<ResourceKey> match) =>
        earlier is not null && TryGetSince(earlier, Capacity, out var keys) && !keys.Exists(match);
}
