using Causeway.Cli;

// The shared ArrayPool keeps 32 arrays of a size per core by default, and reads its limit once, when first used. A
// sidecar with 128 HTTP/2 streams in flight rents a 16 KiB block per stream in SocketsHttpHandler and Kestrel, missed
// the pool and allocated (and the GC zeroed) new ones for every request: B4 spent 10% of its CPU in memset, and ran
// 9,000 requests/s through the pair against 16,900 with 256. The pool keeps only what was rented at once and trims what
// goes unused, so a quiet sidecar holds no more. An operator's own setting wins.
const string ArraysPerPartition = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";
if (Environment.GetEnvironmentVariable(ArraysPerPartition) is null)
{
    Environment.SetEnvironmentVariable(ArraysPerPartition, "256");
}

return await CausewayCli.Build().Parse(args).InvokeAsync();
