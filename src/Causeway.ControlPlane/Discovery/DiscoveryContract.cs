using Causeway.Api.V1;
using Grpc.Core;

namespace Causeway.ControlPlane.Discovery;

/// <summary>
/// The server side of discovery.proto's <c>StreamConfig</c> bound by hand instead of through the generated base class,
/// so that responses go out as <see cref="EncodedDiscoveryResponse"/> (pre-encoded parts) rather than as messages that
/// gRPC would serialise once per proxy. Clients use the generated client: the bytes are the same.
/// </summary>
[BindServiceMethod(typeof(DiscoveryContract), nameof(BindService))]
public abstract class DiscoveryContract
{
    private static readonly Method<DiscoveryRequest, EncodedDiscoveryResponse> StreamConfigMethod = new(
        MethodType.DuplexStreaming,
        Api.V1.Discovery.Descriptor.FullName,
        "StreamConfig",
        Marshallers.Create(static (DiscoveryRequest r) => Google.Protobuf.MessageExtensions.ToByteArray(r), DiscoveryRequest.Parser.ParseFrom),
        EncodedDiscoveryResponse.Marshaller);

    public abstract Task StreamConfig(IAsyncStreamReader<DiscoveryRequest> requestStream, IServerStreamWriter<EncodedDiscoveryResponse> responseStream, ServerCallContext context);

    /// <summary>Called by Grpc.AspNetCore when the service is mapped (it finds the handler by name on the service type).</summary>
    public static void BindService(ServiceBinderBase binder, DiscoveryContract? service) =>
        binder.AddMethod(StreamConfigMethod, service is null ? null : service.StreamConfig);
}
