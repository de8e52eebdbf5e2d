using Causeway.Fuzz;
using SharpFuzz;

// causeway-fuzz TARGET: AFL++ drives it (fuzz/run); each input arrives on standard input or through SharpFuzz's shared memory.
if (args.Length != 1 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: causeway-fuzz TARGET, where TARGET is one of {string.Join(", ", FuzzTargets.All.Keys)}");
    return 2;
}

Fuzzer.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
