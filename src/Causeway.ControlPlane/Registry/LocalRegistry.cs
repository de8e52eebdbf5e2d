using System.Collections.Immutable;
using System.Threading.Channels;
using Causeway.ControlPlane.Store;
using Causeway.Core.Resources;

namespace Causeway.ControlPlane.Registry;

/// <summary>
/// This cluster's own resources: validated writes go to the store first, then the in-memory snapshot is replaced
/// atomically and the change is announced. Readers take <see cref="Current"/> (or <see cref="Contents"/>, with the
/// log of what changed) and never lock.
/// </summary>
public sealed class LocalRegistry
{
    private readonly ResourceStore _store;
    private readonly Lock _writeGate = new();
    private readonly int _watchQueueLimit;
    private ImmutableList<Channel<RegistryChange>> _watchers = [];
    private RegistryContents _contents;

    public LocalRegistry(ResourceStore store, int watchQueueLimit, Action<string>? reportUnreadable = null)
    {
        _store = store;
        _watchQueueLimit = watchQueueLimit;
        _contents = new RegistryContents(store.LoadAll(reportUnreadable).ToImmutableDictionary(r => r.Key), ChangeLog.Start());
    }

    /// <summary>Raised after every committed change, on the writer's thread; handlers must be quick.</summary>
    public event Action? Changed;

    public ImmutableDictionary<ResourceKey, Resource> Current => Contents.Resources;

    /// <summary>The resources with the keys they changed by since this process loaded them, read as one.</summary>
    public RegistryContents Contents => Volatile.Read(ref _contents);

    public long Revision => _store.Revision;

    /// <summary>Creates or replaces every resource in one transaction; unchanged resources are not rewritten.</summary>
    public IReadOnlyList<ApplyOutcome> Apply(IReadOnlyList<Resource> resources, bool dryRun = false)
    {
        lock (_writeGate)
        {
            var current = Current;
            var outcomes = new List<ApplyOutcome>();
            var puts = new List<Resource>();
            foreach (var resource in resources)
            {
                if (current.TryGetValue(resource.Key, out var existing))
                {
                    var candidate = resource with { Metadata = resource.Metadata with { CreationTimestamp = existing.Metadata.CreationTimestamp } };
                    if (ResourceDocuments.Canonical(candidate).AsSpan().SequenceEqual(ResourceDocuments.Canonical(existing)))
                    {
                        outcomes.Add(new ApplyOutcome(resource.Key, "unchanged", existing.Metadata.ResourceVersion ?? 0));
                        continue;
                    }

                    puts.Add(candidate);
                    outcomes.Add(new ApplyOutcome(resource.Key, "configured", 0));
                }
                else
                {
                    puts.Add(resource with { Metadata = resource.Metadata with { CreationTimestamp = DateTimeOffset.UtcNow } });
                    outcomes.Add(new ApplyOutcome(resource.Key, "created", 0));
                }
            }

            if (dryRun || puts.Count == 0)
            {
                return outcomes;
            }

            var (revision, stored) = _store.Write(puts, []);
            var next = current;
            var changes = new List<RegistryChange>();
            foreach (var s in stored)
            {
                changes.Add(new RegistryChange(next.ContainsKey(s.Key) ? RegistryChangeType.Modified : RegistryChangeType.Added, s, revision));
                next = next.SetItem(s.Key, s);
            }

            Publish(next, changes);
            return outcomes.Select(o => o.Outcome == "unchanged" ? o : o with { ResourceVersion = revision }).ToList();
        }
    }

    /// <summary>Deletes resources; keys that do not exist are skipped. Returns the keys actually deleted.</summary>
    public IReadOnlyList<ResourceKey> Delete(IReadOnlyList<ResourceKey> keys)
    {
        lock (_writeGate)
        {
            var current = Current;
            var existing = keys.Where(current.ContainsKey).Distinct().ToList();
            if (existing.Count == 0)
            {
                return [];
            }

            var (revision, _) = _store.Write([], existing);
            var changes = existing.Select(k => new RegistryChange(RegistryChangeType.Deleted, current[k], revision)).ToList();
            Publish(current.RemoveRange(existing), changes);
            return existing;
        }
    }

    /// <summary>
    /// Subscribes to changes from now on, with the snapshot they apply to. The channel is bounded: a watcher that
    /// falls <see cref="ControlPlaneOptions.WatchQueueLimit"/> behind is completed with an error and must re-watch.
    /// </summary>
    public (ImmutableDictionary<ResourceKey, Resource> Snapshot, ChannelReader<RegistryChange> Changes, Action Unsubscribe) Watch()
    {
        var channel = Channel.CreateBounded<RegistryChange>(new BoundedChannelOptions(_watchQueueLimit) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        lock (_writeGate)
        {
            ImmutableInterlocked.Update(ref _watchers, w => w.Add(channel));
            return (Current, channel.Reader, () => ImmutableInterlocked.Update(ref _watchers, w => w.Remove(channel)));
        }
    }

    private void Publish(ImmutableDictionary<ResourceKey, Resource> next, List<RegistryChange> changes)
    {
        var log = Contents.Changes;
        foreach (var change in changes)
        {
            log = log.Append(change.Resource.Key);
        }

        Volatile.Write(ref _contents, new RegistryContents(next, log));
        foreach (var watcher in _watchers)
        {
            foreach (var change in changes)
            {
                if (!watcher.Writer.TryWrite(change))
                {
                    watcher.Writer.TryComplete(new InvalidOperationException("the watcher fell too far behind; re-watch for a fresh list"));
                    ImmutableInterlocked.Update(ref _watchers, w => w.Remove(watcher));
                    break;
                }
            }
        }

        Changed?.Invoke();
    }
}
