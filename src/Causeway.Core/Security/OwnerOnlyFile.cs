using System.Text;

namespace Causeway.Core.Security;

/// <summary>Writes secrets (CA keys, token keys, tokens) to new files only their owner can read; an existing file is never overwritten.</summary>
public static class OwnerOnlyFile
{
    public static void CreateNew(string path, string content) => CreateNew(path, Encoding.UTF8.GetBytes(content));

    public static void CreateNew(string path, ReadOnlySpan<byte> content)
    {
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        stream.Write(content);
    }
}
