using Causeway.Api.V1;
using Causeway.Core.Client;
using Grpc.Core;

namespace Causeway.ControlPlane.Tests.Integration;

/// <summary>Reliability suite M-10 and issue 7's control-plane input: oversized payloads and resources, with and without credentials.</summary>
public class HostileClientTests
{
    [Fact]
    public async Task OversizedRequestsAndResources_AreRefusedWithTheReason_NothingIsStored_AndTheControlPlaneServesOn()
    {
        await using var lab = await MeshLab.StartAsync();
        var cp = lab.Cluster1;
        var huge = new string('a', 17 * 1024 * 1024);

        // Over the 16 MiB message limit, from an admin and from a caller with no token: refused before it is read whole.
        var oversized = new ApplyRequest();
        oversized.Resources.Add(new ResourceDocument { Kind = "WorkloadEntry", Namespace = "sample", Name = "big", DocumentJson = huge });
        var admin = await Assert.ThrowsAsync<RpcException>(() => cp.Admin.Registry.ApplyAsync(oversized).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, admin.StatusCode);
        using (var anonymous = ControlPlaneConnection.Create(cp.Discovery, cp.RootPem, token: null))
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => anonymous.Registry.ApplyAsync(oversized).ResponseAsync);
            Assert.Contains(refused.StatusCode, new[] { StatusCode.ResourceExhausted, StatusCode.Unauthenticated });
        }

        // Under the message limit but absurd: a 1 MiB label value would be pushed to every proxy that sees the endpoint.
        // Written by hand: an attacker does not use Causeway's client, which would refuse it first.
        var bigLabel = $$$"""{"apiVersion":"networking.istio.io/v1beta1","kind":"WorkloadEntry","metadata":{"name":"big-label","namespace":"sample","labels":{"app":"helloworld","note":"{{{new string('x', 1024 * 1024)}}}"}},"spec":{"address":"127.0.0.1"}}""";
        var request = new ApplyRequest();
        request.Resources.Add(new ResourceDocument { Kind = "WorkloadEntry", Namespace = "sample", Name = "big-label", DocumentJson = bigLabel });
        var invalid = await Assert.ThrowsAsync<RpcException>(() => cp.Admin.Registry.ApplyAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("metadata.labels.note", invalid.Status.Detail, StringComparison.Ordinal);
        Assert.True(invalid.Status.Detail.Length < 2000, "the refusal echoes the hostile value");

        // Nothing was stored, and the control plane answers as before.
        var list = await cp.Admin.Registry.ListAsync(new ListRequest { Kind = "WorkloadEntry" });
        Assert.Empty(list.Resources);
        Assert.False(cp.Process.HasExited);
        var ok = await cp.ApplyAsync("""
            apiVersion: networking.istio.io/v1beta1
            kind: WorkloadEntry
            metadata: {name: helloworld-v1, namespace: sample, labels: {app: helloworld}}
            spec: {address: 127.0.0.1}
            """);
        Assert.Single(ok.Results);
    }
}
