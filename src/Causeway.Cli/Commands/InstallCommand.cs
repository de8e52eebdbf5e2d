using System.CommandLine;
using Causeway.Lab;
using YamlDotNet.RepresentationModel;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway install -y -f -</c>: installs what an IstioOperator manifest asks for (an east-west gateway) into a lab cluster.</summary>
public static class InstallCommand
{
    public static Command Create()
    {
        var file = new Option<string>("--filename", "-f") { Description = "An IstioOperator manifest (from 'causeway gen-eastwest-gateway'), or - for standard input.", Required = true };
        var yes = new Option<bool>("--skip-confirmation", "-y") { Description = "Install without asking (required: this command never prompts)." };
        var command = new Command("install", "Install an IstioOperator manifest's east-west gateway into the context's cluster.") { file, yes };
        command.SetAction(parse => CommandRunner.RunAsync(async () =>
        {
            var (revision, network, labels) = Parse(await CommandRunner.ReadInputAsync(parse.GetValue(file)!));
            var (lab, clusterName) = LabCommand.Resolve(parse.GetValue(CommandRunner.Context));
            var cluster = lab.Cluster(clusterName);
            if (revision != cluster.Revision)
            {
                throw new InvalidOperationException($"the manifest is for revision '{revision}', but cluster {clusterName}'s control plane serves revision '{cluster.Revision}'; regenerate it with --revision {cluster.Revision}");
            }

            if (!parse.GetValue(yes))
            {
                throw new InvalidOperationException($"this installs an east-west gateway for network {network} into cluster {clusterName}; add -y to proceed");
            }

            var gateway = await lab.InstallGatewayAsync(clusterName, network, labels);
            Console.WriteLine($"✔ Ingress gateways installed: istio-eastwestgateway in {clusterName} at {gateway.Address}:15443 (network {network})");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Reads the parts of an IstioOperator an east-west gateway needs; names the field when one is missing.</summary>
    internal static (string Revision, string Network, Dictionary<string, string> Labels) Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new InvalidOperationException("the manifest is empty; pipe in the output of 'causeway gen-eastwest-gateway'");
        }

        if (Scalar(root, "kind") != "IstioOperator")
        {
            throw new InvalidOperationException($"kind '{Scalar(root, "kind")}' is not IstioOperator; 'causeway install' takes the output of 'causeway gen-eastwest-gateway' (resources go to 'causeway apply')");
        }

        var spec = Map(root, "spec");
        var gateways = Map(spec, "components")?.Children.TryGetValue("ingressGateways", out var g) == true ? g as YamlSequenceNode : null;
        var gateway = gateways?.Children.OfType<YamlMappingNode>().FirstOrDefault() ?? throw new InvalidOperationException("spec.components.ingressGateways is missing: the manifest installs no gateway");
        var labels = Map(gateway, "label")?.Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value!, c => ((YamlScalarNode)c.Value).Value!) ?? [];
        var network = Scalar(Map(Map(spec, "values"), "global"), "network") ?? (labels.TryGetValue("topology.istio.io/network", out var n) ? n : null)
            ?? throw new InvalidOperationException("spec.values.global.network is missing: say which network the gateway serves");
        return (Scalar(spec, "revision") ?? "default", network, labels);
    }

    private static YamlMappingNode? Map(YamlMappingNode? node, string key) =>
        node is not null && node.Children.TryGetValue(key, out var child) ? child as YamlMappingNode : null;

    private static string? Scalar(YamlMappingNode? node, string key) =>
        node is not null && node.Children.TryGetValue(key, out var child) && child is YamlScalarNode s ? s.Value : null;
}
