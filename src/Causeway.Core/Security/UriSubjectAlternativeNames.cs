using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace Causeway.Core.Security;

/// <summary>Reads URI entries of a subjectAltName extension with System.Formats.Asn1; .NET offers no API for them.</summary>
public static class UriSubjectAlternativeNames
{
    /// <summary>The subjectAltName extension's OID.</summary>
    public const string Oid = "2.5.29.17";

    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>Every URI SAN of a certificate; an unparsable extension throws <see cref="AsnContentException"/>.</summary>
    public static IReadOnlyList<string> Read(X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value == Oid)
            {
                return Read(extension.RawData);
            }
        }

        return [];
    }

    /// <summary>Every URI SAN in the DER of a GeneralNames sequence.</summary>
    public static IReadOnlyList<string> Read(ReadOnlyMemory<byte> der)
    {
        var uris = new List<string>();
        var reader = new AsnReader(der, AsnEncodingRules.DER);
        var names = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        while (names.HasData)
        {
            if (names.PeekTag() == UriTag)
            {
                uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
            }
            else
            {
                names.ReadEncodedValue();
            }
        }

        return uris;
    }
}
