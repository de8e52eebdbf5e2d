using Causeway.Cli;
using Causeway.Proxy.Hosting;

// Before anything reads them: the proxy's runtime settings (its shared ArrayPool), for `causeway proxy`.
ProxyCommand.ConfigureRuntime();
return await CausewayCli.Build().Parse(args).InvokeAsync(TerminationGrace.Invocation());
