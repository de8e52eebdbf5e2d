using Causeway.Cli;

return await CausewayCli.Build().Parse(args).InvokeAsync();
