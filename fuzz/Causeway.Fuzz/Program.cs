using Causeway.Fuzz;
using SharpFuzz;

// causeway-fuzz TARGET: AFL++ drives it (fuzz/run). No code of the instrumented targets assembly may run before
// Fuzzer.Run has set up the coverage map, so the name is checked against a plain list and resolved inside the loop.
string[] targets = FuzzTargets.Names.Split(' ');
if (args.Length != 1 || !targets.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: causeway-fuzz TARGET, where TARGET is one of {string.Join(", ", targets)}");
    return 2;
}

Action<byte[]>? target = null;
Fuzzer.Run(stream =>
{
    target ??= FuzzTargets.All[args[0]];
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
