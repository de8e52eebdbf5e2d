using Causeway.Core.Resources;
using Microsoft.Data.Sqlite;

namespace Causeway.ControlPlane.Store;

/// <summary>
/// The control plane's durable state: one SQLite file holding every resource as its JSON document, stamped with a
/// store-wide revision that grows with each write. Writes are serialised; every write commits before it is announced.
/// </summary>
public sealed class ResourceStore : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();

    private ResourceStore(SqliteConnection connection, long revision)
    {
        _connection = connection;
        Revision = revision;
    }

    /// <summary>The revision of the last committed write.</summary>
    public long Revision { get; private set; }

    /// <summary>Opens (or creates) <c>causeway.db</c> in <paramref name="dataDirectory"/>.</summary>
    public static ResourceStore Open(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDirectory, "causeway.db"),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS resources (
                kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                document TEXT NOT NULL, resource_version INTEGER NOT NULL,
                PRIMARY KEY (kind, namespace, name));
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT value FROM meta WHERE key = 'revision'";
        var revision = command.ExecuteScalar() is string s ? long.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return new ResourceStore(connection, revision);
    }

    /// <summary>A value the control plane keeps about itself (e.g. the cluster name the data directory belongs to).</summary>
    public string? GetMeta(string key)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT value FROM meta WHERE key = $key";
            command.Parameters.AddWithValue("$key", key);
            return command.ExecuteScalar() as string;
        }
    }

    public void SetMeta(string key, string value)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO meta (key, value) VALUES ($key, $value) ON CONFLICT(key) DO UPDATE SET value = $value";
            command.Parameters.AddWithValue("$key", key);
            command.Parameters.AddWithValue("$value", value);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Every stored resource; a document that no longer parses is reported, not dropped silently.</summary>
    public IReadOnlyList<Resource> LoadAll(Action<string>? reportUnreadable = null)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT kind, namespace, name, document FROM resources ORDER BY kind, namespace, name";
            using var reader = command.ExecuteReader();
            var resources = new List<Resource>();
            while (reader.Read())
            {
                try
                {
                    resources.Add(ResourceDocuments.ParseJson(reader.GetString(3), null, $"stored {reader.GetString(0)} {reader.GetString(1)}/{reader.GetString(2)}"));
                }
                catch (InvalidResourceException e)
                {
                    reportUnreadable?.Invoke(e.Message);
                }
            }

            return resources;
        }
    }

    /// <summary>
    /// Commits a batch in one transaction: each resource is stamped with the new revision (puts), or removed (deletes).
    /// Returns the revision of the batch and the stored forms of the puts.
    /// </summary>
    public (long Revision, IReadOnlyList<Resource> Stored) Write(IReadOnlyList<Resource> puts, IReadOnlyList<ResourceKey> deletes)
    {
        lock (_gate)
        {
            var revision = Revision + 1;
            using var transaction = _connection.BeginTransaction();
            var stored = new List<Resource>(puts.Count);
            foreach (var resource in puts)
            {
                var stamped = resource with { Metadata = resource.Metadata with { ResourceVersion = revision } };
                using var command = _connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = """
                    INSERT INTO resources (kind, namespace, name, document, resource_version) VALUES ($kind, $ns, $name, $doc, $rv)
                    ON CONFLICT(kind, namespace, name) DO UPDATE SET document = $doc, resource_version = $rv
                    """;
                var key = stamped.Key;
                command.Parameters.AddWithValue("$kind", key.Kind);
                command.Parameters.AddWithValue("$ns", key.Namespace);
                command.Parameters.AddWithValue("$name", key.Name);
                command.Parameters.AddWithValue("$doc", ResourceDocuments.ToJson(stamped));
                command.Parameters.AddWithValue("$rv", revision);
                command.ExecuteNonQuery();
                stored.Add(stamped);
            }

            foreach (var key in deletes)
            {
                using var command = _connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = "DELETE FROM resources WHERE kind = $kind AND namespace = $ns AND name = $name";
                command.Parameters.AddWithValue("$kind", key.Kind);
                command.Parameters.AddWithValue("$ns", key.Namespace);
                command.Parameters.AddWithValue("$name", key.Name);
                command.ExecuteNonQuery();
            }

            using (var meta = _connection.CreateCommand())
            {
                meta.Transaction = transaction;
                meta.CommandText = "INSERT INTO meta (key, value) VALUES ('revision', $rev) ON CONFLICT(key) DO UPDATE SET value = $rev";
                meta.Parameters.AddWithValue("$rev", revision.ToString(System.Globalization.CultureInfo.InvariantCulture));
                meta.ExecuteNonQuery();
            }

            transaction.Commit();
            Revision = revision;
            return (revision, stored);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _connection.Dispose();
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
