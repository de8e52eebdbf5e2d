using Causeway.Lab;

namespace Causeway.Cli.Tests.Commands;

/// <summary>A fact that publishes <c>causeway-proxy</c> with Native AOT (clang and zlib's headers); skipped with the reason otherwise.</summary>
public sealed class NativeAotFactAttribute : FactAttribute
{
    public NativeAotFactAttribute()
    {
        if (!NetworkFabric.IsInstalled("clang"))
        {
            Skip = "clang is not installed (apt-get install clang zlib1g-dev; .ci/run installs them): Native AOT links with it";
        }
        else if (!File.Exists("/usr/include/zlib.h"))
        {
            Skip = "zlib's headers are not installed (apt-get install zlib1g-dev; .ci/run installs them): Native AOT links with zlib";
        }
    }
}
