using System.CommandLine;
using System.Globalization;
using Causeway.Api.V1;
using Causeway.Cli.Contexts;
using Causeway.Cli.Output;
using Causeway.ControlPlane.Registry;
using Causeway.Core.Client;
using Causeway.Core.Resources;
using Causeway.Core.Resources.Specs;

namespace Causeway.Cli.Commands;

/// <summary><c>apply</c>, <c>get</c>, <c>delete</c>, <c>create namespace</c> and <c>label namespace</c>, as kubectl has them, on Istio-shaped resources.</summary>
public static class ResourceCommands
{
    private static Option<string?> NamespaceOption() => new("--namespace", "-n") { Description = "The namespace (default: the document's, else 'default')." };

    private static Option<string?> SelectorOption() => new("--selector", "-l") { Description = "Only resources whose labels match, e.g. version=v1." };

    public static Command Apply()
    {
        var file = new Option<string>("--filename", "-f") { Description = "A YAML file of one or more documents, or - for standard input.", Required = true };
        var ns = NamespaceOption();
        var selector = SelectorOption();
        var dryRun = new Option<bool>("--dry-run") { Description = "Validate and report without writing." };
        var command = new Command("apply", "Create or update resources from Istio-shaped YAML (Gateway, ServiceEntry, WorkloadEntry, DestinationRule, PeerAuthentication, AuthorizationPolicy, Namespace).") { file, ns, selector, dryRun };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var resources = await ReadAsync(parse.GetValue(file)!, parse.GetValue(ns), parse.GetValue(selector));
            using var session = ClusterSession.Open(parse.GetValue(CommandRunner.Context));
            var request = new ApplyRequest { DryRun = parse.GetValue(dryRun) };
            request.Resources.AddRange(resources.Select(WireDocuments.ToDocument));
            var response = await session.CallAsync(c => c.Registry.ApplyAsync(request).ResponseAsync);
            foreach (var result in response.Results)
            {
                Console.WriteLine($"{CommandRunner.Display(result.Ref.Kind, result.Ref.Name)} {result.Outcome}{(request.DryRun ? " (dry run)" : "")}");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command Get()
    {
        var kind = new Argument<string>("kind") { Description = "The kind, e.g. workloadentries, se, gateway, namespace." };
        var name = new Argument<string?>("name") { Description = "One resource's name.", Arity = ArgumentArity.ZeroOrOne };
        var ns = NamespaceOption();
        var all = new Option<bool>("--all-namespaces", "-A") { Description = "Every namespace." };
        var selector = SelectorOption();
        var output = new Option<string>("--output", "-o") { Description = "table (default), yaml or name.", DefaultValueFactory = _ => "table" };
        var command = new Command("get", "List resources of a kind, or show one.") { kind, name, ns, all, selector, output };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var k = ResourceKinds.Find(parse.GetValue(kind)!) ?? throw new ArgumentException($"unknown kind '{parse.GetValue(kind)}'; Causeway knows {ResourceKinds.Names}");
            using var session = ClusterSession.Open(parse.GetValue(CommandRunner.Context));
            var request = new ListRequest
            {
                Kind = k.Name,
                Namespace = !k.Namespaced || parse.GetValue(all) ? "" : parse.GetValue(ns) ?? "default",
                LabelSelector = parse.GetValue(selector) ?? "",
            };
            var list = await session.CallAsync(c => c.Registry.ListAsync(request).ResponseAsync);
            var resources = list.Resources.Select(WireDocuments.FromDocument).Where(r => parse.GetValue(name) is not { } n || r.Metadata.Name == n).ToList();
            if (parse.GetValue(name) is { } wanted && resources.Count == 0)
            {
                throw new InvalidOperationException($"{k.Name} \"{wanted}\" not found in {(k.Namespaced ? $"namespace {request.Namespace}" : "the cluster")} of context {session.Context.Name}");
            }

            Console.Write(parse.GetValue(output) switch
            {
                "yaml" => ResourceDocuments.ToYaml(resources),
                "name" => string.Concat(resources.Select(r => CommandRunner.Display(r.Kind, r.Metadata.Name) + "\n")),
                "table" => Table(k, resources, parse.GetValue(all)),
                var o => throw new ArgumentException($"--output '{o}' is not supported; use table, yaml or name"),
            });
            if (resources.Count == 0 && parse.GetValue(output) == "table")
            {
                Console.Error.WriteLine($"No resources found{(k.Namespaced && !parse.GetValue(all) ? $" in {request.Namespace} namespace" : "")}.");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command Delete()
    {
        var kind = new Argument<string?>("kind") { Description = "The kind (or give -f).", Arity = ArgumentArity.ZeroOrOne };
        var name = new Argument<string?>("name") { Description = "The resource's name.", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--filename", "-f") { Description = "Delete what a YAML file describes." };
        var ns = NamespaceOption();
        var command = new Command("delete", "Delete resources; 'delete namespace NS' deletes the namespace and everything in it.") { kind, name, file, ns };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            using var session = ClusterSession.Open(parse.GetValue(CommandRunner.Context));
            var targets = new List<ResourceRef>();
            if (parse.GetValue(file) is { } f)
            {
                targets.AddRange((await ReadAsync(f, parse.GetValue(ns), null)).Select(r => new ResourceRef { Kind = r.Kind, Namespace = r.Metadata.Namespace ?? "", Name = r.Metadata.Name }));
            }
            else if (parse.GetValue(kind) is { } kindName && parse.GetValue(name) is { } resourceName)
            {
                var k = ResourceKinds.Find(kindName) ?? throw new ArgumentException($"unknown kind '{kindName}'; Causeway knows {ResourceKinds.Names}");
                if (k == ResourceKinds.Namespace)
                {
                    // Everything in the namespace goes first, so that no workload outlives its namespace.
                    var inside = await session.CallAsync(c => c.Registry.ListAsync(new ListRequest { Namespace = resourceName }).ResponseAsync);
                    targets.AddRange(inside.Resources.Where(r => r.Namespace == resourceName).Select(r => new ResourceRef { Kind = r.Kind, Namespace = r.Namespace, Name = r.Name }));
                }

                targets.Add(new ResourceRef { Kind = k.Name, Namespace = k.Namespaced ? parse.GetValue(ns) ?? "default" : "", Name = resourceName });
            }
            else
            {
                throw new ArgumentException("say what to delete: 'causeway delete KIND NAME' or 'causeway delete -f FILE'");
            }

            var missing = 0;
            foreach (var target in targets)
            {
                var deleted = await session.CallAsync(c => c.Registry.DeleteAsync(target).ResponseAsync);
                if (deleted.Deleted)
                {
                    Console.WriteLine($"{CommandRunner.Display(target.Kind, target.Name)} deleted");
                }
                else
                {
                    missing++;
                    Console.Error.WriteLine($"{CommandRunner.Display(target.Kind, target.Name)} not found");
                }
            }

            // In the lab, deleting a namespace also stops its pods, as Kubernetes does.
            if (parse.GetValue(kind) is { } deletedKind && ResourceKinds.Find(deletedKind) == ResourceKinds.Namespace && session.Context.LabDirectory is { } labDir)
            {
                await Causeway.Lab.LocalLab.Open(labDir).StopNamespaceAsync(session.Context.Cluster, parse.GetValue(name)!);
            }

            return missing == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        }));
        return command;
    }

    public static Command CreateNamespace()
    {
        var name = new Argument<string>("name") { Description = "The namespace's name." };
        var ns = new Command("namespace", "Create a namespace.") { name };
        ns.Aliases.Add("ns");
        ns.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            using var session = ClusterSession.Open(parse.GetValue(CommandRunner.Context));
            var request = new ApplyRequest();
            request.Resources.Add(WireDocuments.ToDocument(NamespaceResource(parse.GetValue(name)!, new Dictionary<string, string>())));
            var existing = await session.CallAsync(c => c.Registry.ListAsync(new ListRequest { Kind = "Namespace" }).ResponseAsync);
            if (existing.Resources.Any(r => r.Name == parse.GetValue(name)))
            {
                throw new InvalidOperationException($"namespace \"{parse.GetValue(name)}\" already exists");
            }

            await session.CallAsync(c => c.Registry.ApplyAsync(request).ResponseAsync);
            Console.WriteLine($"namespace/{parse.GetValue(name)} created");
            return ExitCodes.Ok;
        }));
        var create = new Command("create", "Create a resource.");
        create.Subcommands.Add(ns);
        return create;
    }

    public static Command LabelNamespace()
    {
        var name = new Argument<string>("name") { Description = "The namespace." };
        var labels = new Argument<string[]>("labels") { Description = "key=value to set, key- to remove (e.g. istio-injection- istio.io/rev=asm-1134-4).", Arity = ArgumentArity.OneOrMore };
        var overwrite = new Option<bool>("--overwrite") { Description = "Allow replacing an existing value." };
        var ns = new Command("namespace", "Label a namespace; istio.io/rev=REVISION binds its workloads to that control-plane revision.") { name, labels, overwrite };
        ns.Aliases.Add("ns");
        ns.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            using var session = ClusterSession.Open(parse.GetValue(CommandRunner.Context));
            var nsName = parse.GetValue(name)!;
            var list = await session.CallAsync(c => c.Registry.ListAsync(new ListRequest { Kind = "Namespace" }).ResponseAsync);
            var doc = list.Resources.FirstOrDefault(r => r.Name == nsName)
                ?? throw new InvalidOperationException($"namespace \"{nsName}\" not found; create it with 'causeway create namespace {nsName}'");
            var current = WireDocuments.FromDocument(doc);
            var updated = new Dictionary<string, string>(current.Metadata.Labels);
            foreach (var label in parse.GetValue(labels)!)
            {
                if (label.EndsWith('-') && !label.Contains('=', StringComparison.Ordinal))
                {
                    if (!updated.Remove(label[..^1]))
                    {
                        Console.WriteLine($"label \"{label[..^1]}\" not found.");
                    }

                    continue;
                }

                var eq = label.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new ArgumentException($"'{label}' is neither key=value nor key-");
                }

                var (key, value) = (label[..eq], label[(eq + 1)..]);
                if (updated.TryGetValue(key, out var old) && old != value && !parse.GetValue(overwrite))
                {
                    throw new InvalidOperationException($"'{key}' already has a value ({old}), and --overwrite is false");
                }

                updated[key] = value;
            }

            var request = new ApplyRequest();
            request.Resources.Add(WireDocuments.ToDocument(NamespaceResource(nsName, updated)));
            await session.CallAsync(c => c.Registry.ApplyAsync(request).ResponseAsync);
            Console.WriteLine($"namespace/{nsName} labeled");
            return ExitCodes.Ok;
        }));
        var label = new Command("label", "Set or remove labels.");
        label.Subcommands.Add(ns);
        return label;
    }

    /// <summary>Parses YAML strictly, fills the namespace, and keeps only documents matching the selector (as <c>kubectl create -f X -l L</c> does).</summary>
    internal static async Task<List<Resource>> ReadAsync(string path, string? ns, string? selector)
    {
        var parsed = ResourceDocuments.ParseYaml(await CommandRunner.ReadInputAsync(path), ns, path);
        var match = LabelSelectorExpression.Parse(selector);
        return parsed.Where(r => match.Matches(r.Metadata.Labels)).ToList();
    }

    private static Resource NamespaceResource(string name, IReadOnlyDictionary<string, string> labels) => new()
    {
        ApiVersion = "v1",
        Kind = "Namespace",
        Metadata = new ObjectMeta { Name = name, Labels = labels },
    };

    private static string Table(ResourceKind kind, List<Resource> resources, bool allNamespaces)
    {
        var headers = new List<string>();
        if (allNamespaces && kind.Namespaced)
        {
            headers.Add("NAMESPACE");
        }

        headers.Add("NAME");
        headers.AddRange(kind.Name switch
        {
            "WorkloadEntry" => ["ADDRESS", "NETWORK", "LABELS"],
            "ServiceEntry" => ["HOSTS", "PORTS"],
            "Namespace" => ["LABELS"],
            _ => [],
        });
        headers.Add("AGE");
        var table = new TextTable([.. headers]);
        foreach (var r in resources)
        {
            var cells = new List<object?>();
            if (allNamespaces && kind.Namespaced)
            {
                cells.Add(r.Metadata.Namespace);
            }

            cells.Add(r.Metadata.Name);
            switch (r.Spec)
            {
                case WorkloadEntrySpec we:
                    cells.AddRange([we.Address, we.Network ?? "", string.Join(",", (we.Labels.Count > 0 ? we.Labels : r.Metadata.Labels).Select(l => $"{l.Key}={l.Value}"))]);
                    break;
                case ServiceEntrySpec se:
                    cells.AddRange([string.Join(",", se.Hosts), string.Join(",", se.Ports.Select(p => $"{p.Number}/{p.Protocol}"))]);
                    break;
                default:
                    if (kind == ResourceKinds.Namespace)
                    {
                        cells.Add(string.Join(",", r.Metadata.Labels.Select(l => $"{l.Key}={l.Value}")));
                    }

                    break;
            }

            cells.Add(Age(r.Metadata.CreationTimestamp));
            table.Add([.. cells]);
        }

        return table.ToString();
    }

    private static string Age(DateTimeOffset? created)
    {
        if (created is not { } c)
        {
            return "<unknown>";
        }

        var age = DateTimeOffset.UtcNow - c;
        return age.TotalMinutes < 2 ? $"{(int)age.TotalSeconds}s" : age.TotalHours < 2 ? $"{(int)age.TotalMinutes}m" : age.TotalDays < 2 ? $"{(int)age.TotalHours}h" : $"{(int)age.TotalDays}d";
    }
}
