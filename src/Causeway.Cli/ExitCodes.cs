namespace Causeway.Cli;

/// <summary>The exit codes of every causeway command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command ran and failed; the message says why.</summary>
    public const int Failed = 1;

    /// <summary>The command line was wrong (System.CommandLine's own code for parse errors).</summary>
    public const int Usage = 1;

    /// <summary>A control plane or other peer could not be reached.</summary>
    public const int Unavailable = 3;
}
