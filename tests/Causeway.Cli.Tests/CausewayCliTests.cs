using System.CommandLine;

namespace Causeway.Cli.Tests;

public class CausewayCliTests
{
    public static TheoryData<string> Commands()
    {
        var data = new TheoryData<string>();
        void Walk(Command command, string path)
        {
            data.Add(path);
            foreach (var sub in command.Subcommands)
            {
                Walk(sub, (path + " " + sub.Name).Trim());
            }
        }

        Walk(CausewayCli.Build(), "");
        return data;
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryCommandAnswersHelp(string path)
    {
        var output = new StringWriter();
        var args = path.Split(' ', StringSplitOptions.RemoveEmptyEntries).Append("--help").ToArray();
        var code = CausewayCli.Build().Parse(args).Invoke(new InvocationConfiguration { Output = output });
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("Description:", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void CompletionSuggestsCommandsAndOptions()
    {
        var output = new StringWriter();
        CausewayCli.Build().Parse(["[suggest:2]", "ge"]).Invoke(new InvocationConfiguration { Output = output });
        Assert.Contains("get", output.ToString().Split('\n', StringSplitOptions.TrimEntries));
        Assert.Contains("gen-eastwest-gateway", output.ToString().Split('\n', StringSplitOptions.TrimEntries));
    }
}
