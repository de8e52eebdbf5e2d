using System.CommandLine;

namespace Causeway.Cli.Commands;

/// <summary><c>causeway completion bash</c>: a completion script that asks causeway itself (System.CommandLine's [suggest] directive).</summary>
public static class CompletionCommand
{
    private const string Bash = """
        # causeway bash completion: source <(causeway completion bash)
        _causeway_complete() {
            local exe="${COMP_WORDS[0]}"
            local line="${COMP_LINE#"$exe"}"
            line="${line# }"
            local point=$(( COMP_POINT - ${#COMP_LINE} + ${#line} ))
            local IFS=$'\n'
            COMPREPLY=( $(compgen -W "$("$exe" "[suggest:${point}]" "${line}" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}") )
        }
        complete -o default -F _causeway_complete causeway

        """;

    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash." };
        var command = new Command("completion", "Print a shell completion script: source <(causeway completion bash).") { shell };
        command.SetAction(parse =>
        {
            if (parse.GetValue(shell) != "bash")
            {
                return CommandRunner.Fail($"no completion script for '{parse.GetValue(shell)}'; bash is supported (zsh users: autoload bashcompinit; bashcompinit)");
            }

            Console.Write(Bash);
            return ExitCodes.Ok;
        });
        return command;
    }
}
