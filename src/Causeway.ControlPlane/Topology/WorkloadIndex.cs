using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;

namespace Causeway.ControlPlane.Topology;

/// <summary>
/// A cluster's WorkloadEntries by namespace and by each of their labels, so that a ServiceEntry's selector looks only
/// at the workloads that carry one of its labels: matching every selector against every workload made a topology of
/// 5,000 services and 25,000 workloads per cluster cost 125 million label checks per cluster and push.
/// </summary>
public sealed class WorkloadIndex
{
    private static readonly List<(Resource, IReadOnlyDictionary<string, string>)> None = [];

    private readonly Dictionary<string, List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)>> _byNamespace;
    private readonly Dictionary<(string Namespace, string Key, string Value), List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)>> _byLabel;
    private readonly Dictionary<ResourceKey, Resource> _byKey;

    private WorkloadIndex(
        Dictionary<string, List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)>> byNamespace,
        Dictionary<(string Namespace, string Key, string Value), List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)>> byLabel,
        Dictionary<ResourceKey, Resource> byKey)
    {
        _byNamespace = byNamespace;
        _byLabel = byLabel;
        _byKey = byKey;
    }

    /// <summary>Indexes <paramref name="workloads"/> from nothing.</summary>
    public static WorkloadIndex Of(IEnumerable<Resource> workloads)
    {
        var index = new WorkloadIndex(new(StringComparer.Ordinal), [], []);
        foreach (var w in workloads)
        {
            index.Insert(w, null, null);
        }

        return index;
    }

    /// <summary>
    /// The index of <paramref name="workloads"/>, made from this one when at most <paramref name="limit"/> of them were
    /// added, removed or replaced by another object (the versions before and after go into <paramref name="changed"/>):
    /// only the lists those are in are copied, so a push after one workload changed among 25,000 does not index them all
    /// again. Null when more changed; this index is never modified, as the topology that holds it may still be read.
    /// </summary>
    public WorkloadIndex? Update(IReadOnlyList<Resource> workloads, int limit, List<Resource> changed)
    {
        var added = new List<Resource>();
        var removed = new List<Resource>();
        var kept = 0;
        foreach (var w in workloads)
        {
            if (_byKey.TryGetValue(w.Key, out var old))
            {
                kept++;
                if (ReferenceEquals(old, w))
                {
                    continue;
                }

                removed.Add(old);
            }

            added.Add(w);
            if (added.Count > limit)
            {
                return null;
            }
        }

        if (kept < _byKey.Count)
        {
            var present = new HashSet<ResourceKey>(workloads.Count);
            foreach (var w in workloads)
            {
                present.Add(w.Key);
            }

            foreach (var (key, old) in _byKey)
            {
                if (!present.Contains(key))
                {
                    removed.Add(old);
                    if (removed.Count > 2 * limit)
                    {
                        return null;
                    }
                }
            }
        }

        changed.AddRange(removed);
        changed.AddRange(added);
        return Apply(removed, added);
    }

    /// <summary>
    /// The index with <paramref name="removed"/> taken out and <paramref name="added"/> put in (a replaced workload is in
    /// both, as its objects before and after): only the lists they are in are copied. This index is never modified.
    /// </summary>
    public WorkloadIndex Apply(IReadOnlyList<Resource> removed, IReadOnlyList<Resource> added)
    {
        if (added.Count == 0 && removed.Count == 0)
        {
            return this;
        }

        var next = new WorkloadIndex(new(_byNamespace, StringComparer.Ordinal), new(_byLabel), new(_byKey));
        var copiedNamespaces = new HashSet<string>(StringComparer.Ordinal);
        var copiedLabels = new HashSet<(string, string, string)>();
        foreach (var old in removed)
        {
            var (ns, labels) = (NamespaceOf(old), LabelsOf(old));
            next._byKey.Remove(old.Key);
            RemoveFrom(next._byNamespace, copiedNamespaces, ns, old);
            foreach (var (key, value) in labels)
            {
                RemoveFrom(next._byLabel, copiedLabels, (ns, key, value), old);
            }
        }

        foreach (var w in added)
        {
            next.Insert(w, copiedNamespaces, copiedLabels);
        }

        return next;
    }

    /// <summary>A workload's labels by Istio's rule: the entry's own labels, else its metadata's.</summary>
    public static IReadOnlyDictionary<string, string> LabelsOf(Resource workload)
    {
        var spec = workload.SpecAs<WorkloadEntrySpec>();
        return spec.Labels.Count > 0 ? spec.Labels : workload.Metadata.Labels;
    }

    /// <summary>A workload's namespace (<c>default</c> when it names none).</summary>
    public static string NamespaceOf(Resource workload) => workload.Metadata.Namespace ?? "default";

    /// <summary>The workloads of <paramref name="ns"/> that may match <paramref name="selector"/>: those with its rarest label, or all of the namespace for an empty selector.</summary>
    public IReadOnlyList<(Resource Workload, IReadOnlyDictionary<string, string> Labels)> Candidates(string ns, IReadOnlyDictionary<string, string> selector)
    {
        if (selector.Count == 0)
        {
            return _byNamespace.TryGetValue(ns, out var all) ? all : None;
        }

        List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)>? best = null;
        foreach (var (key, value) in selector)
        {
            if (!_byLabel.TryGetValue((ns, key, value), out var list))
            {
                return None;
            }

            if (best is null || list.Count < best.Count)
            {
                best = list;
            }
        }

        return best!;
    }

    /// <summary>True when every label of the selector is on the workload with the same value.</summary>
    public static bool Matches(IReadOnlyDictionary<string, string> selector, IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (key, value) in selector)
        {
            if (!labels.TryGetValue(key, out var v) || v != value)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Indexes <paramref name="workload"/> by key, namespace and each label. With the copied sets (an index made from
    /// another), a list not yet in them is shared with that index and is copied before it is added to.
    /// </summary>
    private void Insert(Resource workload, HashSet<string>? copiedNamespaces, HashSet<(string, string, string)>? copiedLabels)
    {
        _byKey[workload.Key] = workload;
        var (ns, labels) = (NamespaceOf(workload), LabelsOf(workload));
        Add(_byNamespace, copiedNamespaces, ns, (workload, labels));
        foreach (var (key, value) in labels)
        {
            Add(_byLabel, copiedLabels, (ns, key, value), (workload, labels));
        }
    }

    private static void Add<TKey>(Dictionary<TKey, List<(Resource, IReadOnlyDictionary<string, string>)>> map, HashSet<TKey>? copied, TKey key, (Resource, IReadOnlyDictionary<string, string>) item)
        where TKey : notnull
    {
        if (!map.TryGetValue(key, out var list))
        {
            map[key] = list = [];
            copied?.Add(key);
        }
        else if (copied?.Add(key) == true)
        {
            map[key] = list = [.. list];
        }

        list.Add(item);
    }

    /// <summary>Removes <paramref name="workload"/> from the list under <paramref name="key"/>, on a copy of a shared list.</summary>
    private static void RemoveFrom<TKey>(Dictionary<TKey, List<(Resource Workload, IReadOnlyDictionary<string, string> Labels)>> map, HashSet<TKey> copied, TKey key, Resource workload)
        where TKey : notnull
    {
        if (!map.TryGetValue(key, out var list))
        {
            return;
        }

        if (copied.Add(key))
        {
            map[key] = list = [.. list];
        }

        list.RemoveAll(item => ReferenceEquals(item.Workload, workload));
        if (list.Count == 0)
        {
            map.Remove(key);
        }
    }
}
