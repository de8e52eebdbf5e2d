using Causeway.Fuzz;

namespace Causeway.Fuzz.Tests;

/// <summary>
/// Every kept fuzz input (the seed corpus and every crash or hang a run found, fuzz/crashers) replayed through its
/// target: a crasher stays a regression test after its fix, and the targets cannot rot between fuzzing runs.
/// </summary>
public class FuzzTargetsTests
{
    public static TheoryData<string, string> KeptInputs()
    {
        var data = new TheoryData<string, string>();
        var root = Path.Combine(RepositoryRoot(), "fuzz");
        foreach (var target in FuzzTargets.All.Keys)
        {
            foreach (var folder in new[] { "corpus", "crashers" })
            {
                var dir = Path.Combine(root, folder, target);
                if (!Directory.Exists(dir))
                {
                    continue;
                }

                foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                {
                    data.Add(target, Path.GetRelativePath(root, file));
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(KeptInputs))]
    public async Task AKeptInputRunsThroughItsTarget_WithoutAnUnexpectedException(string target, string file)
    {
        var input = await File.ReadAllBytesAsync(Path.Combine(RepositoryRoot(), "fuzz", file));

        // AFL++ calls an input a hang after 5 s; a kept hang must now finish inside that.
        await Task.Run(() => FuzzTargets.All[target](input)).WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void TheHarnessKnowsEveryTargetByName() => Assert.Equal(FuzzTargets.Names.Split(' '), FuzzTargets.All.Keys);

    [Fact]
    public void EveryTargetHasASeedCorpus()
    {
        foreach (var target in FuzzTargets.All.Keys)
        {
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(RepositoryRoot(), "fuzz", "corpus", target)));
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Causeway.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("no Causeway.slnx above " + AppContext.BaseDirectory);
    }
}
