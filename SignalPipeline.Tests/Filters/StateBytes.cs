using System.Buffers.Binary;
using System.IO.Hashing;

namespace SignalPipeline.Tests.Filters;

/// <summary>Reads and forges state snapshots at the byte offsets docs/filters.md gives (the format's table), CRC recomputed.</summary>
internal static class StateBytes
{
    /// <summary>Offset of the i-th float64 after the 16-byte header (parameters first, then the algorithm's state).</summary>
    public static int Value(int index) => 16 + 8 * index;

    public static double ReadDouble(byte[] state, int offset) => BinaryPrimitives.ReadDoubleLittleEndian(state.AsSpan(offset));

    public static void WriteDouble(byte[] state, int offset, double value) => BinaryPrimitives.WriteDoubleLittleEndian(state.AsSpan(offset), value);

    /// <summary>A copy of <paramref name="state"/> changed by <paramref name="change"/>, with its CRC-32 made to match again.</summary>
    public static byte[] Forge(byte[] state, Action<byte[]> change)
    {
        var copy = (byte[])state.Clone();
        change(copy);
        return WithCrc(copy);
    }

    /// <summary><paramref name="state"/> with its last four bytes set to the CRC-32 of the bytes before them.</summary>
    public static byte[] WithCrc(byte[] state)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(state.AsSpan(state.Length - 4), Crc32.HashToUInt32(state.AsSpan(0, state.Length - 4)));
        return state;
    }
}
