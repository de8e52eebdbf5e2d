using Causeway.Proxy.Security.OpenSsl;

namespace Causeway.Proxy.Tests.Security.OpenSsl;

/// <summary>The start-up check that this host has the OpenSSL 3 libraries the inbound listener calls.</summary>
public sealed class LibSslTests
{
    [Fact]
    public void ThisHostHasOpenSsl3()
    {
        Assert.Null(LibSsl.Missing());
    }

    [Fact]
    public void AMissingLibrary_IsNamed_WithWhatToInstall()
    {
        var missing = LibSsl.Missing("libcrypto.so.3", "libssl.so.99");

        Assert.NotNull(missing);
        Assert.Contains("no libssl.so.99", missing);
        Assert.Contains("install OpenSSL 3", missing);
    }
}
