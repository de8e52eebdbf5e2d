using Grpc.Core;

namespace Causeway.ControlPlane.Security;

/// <summary>Reads the bearer token of a gRPC call and insists on one of the scopes a method allows.</summary>
public sealed class CallerAuthentication(AccessTokens tokens)
{
    /// <summary>The caller's grant; throws UNAUTHENTICATED or PERMISSION_DENIED with the reason.</summary>
    public AccessGrant Require(ServerCallContext context, params string[] scopes)
    {
        var header = context.RequestHeaders.GetValue("authorization");
        if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "no bearer token: send 'authorization: Bearer <token>'"));
        }

        if (!tokens.TryValidate(header["Bearer ".Length..].Trim(), out var grant, out var error))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, error));
        }

        if (!scopes.Contains(grant.Scope))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"a {grant.Scope} token may not do this; it needs {string.Join(" or ", scopes)}"));
        }

        return grant;
    }
}
