using Causeway.Proxy.Hosting;

// causeway-proxy takes `causeway proxy`'s options and runs the same proxy; only the executable differs (see the project).
ProxyCommand.ConfigureRuntime();
return await ProxyCommand.CreateRoot().Parse(args).InvokeAsync(TerminationGrace.Invocation());
