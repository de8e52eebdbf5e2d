using Causeway.Lab;

namespace Causeway.Cli.Tests.Commands;

/// <summary>A fact that needs the network-namespace lab (root, ip, iptables, setpriv, tcpdump, curl); skipped with the reason otherwise.</summary>
public sealed class NetnsFactAttribute : FactAttribute
{
    public NetnsFactAttribute()
    {
        if (NetworkFabric.Unavailable() is { } why)
        {
            Skip = why;
        }
        else if (!NetworkFabric.IsInstalled("tcpdump"))
        {
            Skip = "tcpdump is not installed (apt-get install tcpdump; .ci/run installs it): the test captures the public segment";
        }
        else if (!NetworkFabric.IsInstalled("curl"))
        {
            Skip = "curl is not installed (apt-get install curl): the test runs the seed's curl inside the Sleep pod";
        }
    }
}

/// <summary>Tests that count the machine's network namespaces run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class NetnsCollection
{
    public const string Name = "network namespaces";
}
