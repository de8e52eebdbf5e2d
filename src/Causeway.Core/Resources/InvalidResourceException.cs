namespace Causeway.Core.Resources;

/// <summary>Thrown when a resource document is refused; carries every error found, not just the first.</summary>
public sealed class InvalidResourceException : Exception
{
    public InvalidResourceException(string subject, IReadOnlyList<ResourceError> errors)
        : base(Describe(subject, errors))
    {
        Subject = subject;
        Errors = errors;
    }

    /// <summary>Which document: e.g. <c>document 2 (Gateway istio-system/cross-network-gateway)</c>.</summary>
    public string Subject { get; }

    public IReadOnlyList<ResourceError> Errors { get; }

    private static string Describe(string subject, IReadOnlyList<ResourceError> errors) =>
        $"{subject} is invalid:" + string.Concat(errors.Select(e => "\n  - " + e));
}
