namespace Causeway.Proxy.Tests.Integration;

/// <summary>
/// Tests that run alone, after the other tests of this assembly: they measure the process's descriptors and heap, or
/// hold so many descriptors that tests running beside them would run out.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAloneCollection
{
    public const string Name = "runs alone";
}
