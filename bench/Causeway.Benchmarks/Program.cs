using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Causeway.Benchmarks.HotPathBenchmarks).Assembly).Run(args);
