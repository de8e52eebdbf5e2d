using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Causeway.Core.Identity;
using Causeway.Core.Security;
using Causeway.Testing;
using Causeway.Proxy.Tests.Integration;

namespace Causeway.Proxy.Tests.Security;

/// <summary>The inbound listener's TLS middleware in a running sidecar, seen from a mesh client's side of the wire.</summary>
public sealed class MeshTlsServerTests
{
    [Fact]
    public async Task AConnectionTheSidecarEnds_EndsWithCloseNotify()
    {
        await using var lab = new DataPlaneLab();
        var one = await lab.StartOneServiceAsync();
        using var ca = lab.Root.CreateIntermediate("test");
        var sleep = new SpiffeId("cluster.local", "sample", "sleep");
        var (key, csr) = WorkloadCsr.Create(sleep);
        var chain = ca.SignWorkload(csr, sleep);
        using var leaf = chain[0].CopyWithPrivateKey(key);
        key.Dispose();

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(one.Hello, 15006);
        var wire = new RecordingStream(tcp.GetStream());
        using var tls = new SslStream(wire);
        var options = MeshTls.ClientOptions("outbound_.5000_._.helloworld.sample.svc.cluster.local", SslStreamCertificateContext.Create(leaf, [chain[1]], offline: true), SslApplicationProtocol.Http11);
        // TLS 1.2 shows an alert's record type on the wire; TLS 1.3 hides it inside application data.
        options.EnabledSslProtocols = SslProtocols.Tls12;
        await tls.AuthenticateAsClientAsync(options);
        await tls.WriteAsync("GET /hello HTTP/1.1\r\nHost: helloworld\r\nConnection: close\r\n\r\n"u8.ToArray());
        var response = new MemoryStream();
        await tls.CopyToAsync(response).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(response.ToArray()), StringComparison.Ordinal);
        // The last record before the sidecar's FIN is close_notify, so the client knows the response was not cut.
        Assert.Equal(RecordType.Alert, LastRecordType(wire.Received));
    }

    private enum RecordType : byte
    {
        Alert = 21,
        Handshake = 22,
        ApplicationData = 23,
    }

    private static RecordType LastRecordType(byte[] received)
    {
        var last = (RecordType)0;
        for (var at = 0; at + 5 <= received.Length; at += 5 + (received[at + 3] << 8 | received[at + 4]))
        {
            last = (RecordType)received[at];
        }

        return last;
    }

    /// <summary>The transport under the client's SslStream, keeping every byte the server sent.</summary>
    private sealed class RecordingStream(Stream inner) : Stream
    {
        private readonly MemoryStream _received = new();

        public byte[] Received => _received.ToArray();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            _received.Write(buffer.Span[..read]);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
