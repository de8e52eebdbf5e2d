using System.IO.Pipelines;

namespace Causeway.Proxy.Transport;

/// <summary>A reader and a writer as one connection's two directions.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
