using Causeway.Api.V1;
using Causeway.ControlPlane.Admin;
using Causeway.ControlPlane.Security;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Causeway.ControlPlane.Certificates;

/// <summary>Signs workload CSRs for exactly the identity the caller's token grants (certificates.proto).</summary>
public sealed class CertificateService(
    ControlPlaneOptions options,
    ClusterCa ca,
    CallerAuthentication auth,
    ControlPlaneMetrics metrics,
    ILogger<CertificateService> logger) : Api.V1.Certificates.CertificatesBase
{
    public override Task<SignResponse> Sign(SignRequest request, ServerCallContext context)
    {
        metrics.CsrReceived();
        var grant = auth.Require(context, AccessGrant.Workload);
        var allowed = new SpiffeId(options.TrustDomain, grant.Namespace!, grant.ServiceAccount!);
        var lifetime = request.ValiditySeconds > 0 ? TimeSpan.FromSeconds(request.ValiditySeconds) : options.WorkloadCertificateLifetime;
        IReadOnlyList<System.Security.Cryptography.X509Certificates.X509Certificate2> chain;
        try
        {
            chain = ca.Current.Authority.SignWorkload(request.CsrPem, allowed, lifetime);
        }
        catch (UnauthorizedAccessException e)
        {
            metrics.CsrRefused();
            logger.LogWarning("refused a CSR from {Caller}: {Reason}", grant, e.Message);
            throw new RpcException(new Status(StatusCode.PermissionDenied, e.Message));
        }
        catch (InvalidOperationException e)
        {
            // The CA itself cannot sign (it expired while running): the caller and the operator both need the reason.
            metrics.CsrRefused();
            logger.LogError("cannot sign a CSR from {Caller}: {Reason}", grant, e.Message);
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }

        metrics.CertificateIssued();
        var response = new SignResponse { RootPem = ca.Current.TrustBundlePem };
        response.CertChainPem.AddRange(chain.Select(c => c.ExportCertificatePem()));
        return Task.FromResult(response);
    }
}
