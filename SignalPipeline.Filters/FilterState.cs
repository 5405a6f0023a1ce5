using System.Buffers.Binary;
using System.IO.Hashing;

namespace SignalPipeline.Filters;

/// <summary>
/// The versioned binary snapshot format shared by all filters (byte layout in docs/filters.md):
/// magic "SPFS", u16 version, u8 algorithm id, u8 parameter count, i64 samples processed,
/// the parameters as float64 in descriptor order, the algorithm's state as float64, and a CRC-32 of all of it.
/// All numbers little-endian.
/// </summary>
internal static class FilterState
{
    public const uint Magic = 0x53465053; // "SPFS" read as a little-endian u32
    public const ushort Version = 1;
    public const int HeaderSize = 16;
    public const int CrcSize = 4;

    public static int Size(int parameterCount, int stateCount) => HeaderSize + 8 * (parameterCount + stateCount) + CrcSize;

    /// <summary>Writes the header and parameters; returns the writer positioned at the state.</summary>
    public static StateWriter Begin(byte[] buffer, byte algorithmId, long samplesProcessed, ReadOnlySpan<double> parameters)
    {
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], Version);
        span[6] = algorithmId;
        span[7] = (byte)parameters.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], samplesProcessed);
        var writer = new StateWriter(buffer, HeaderSize);
        writer.Write(parameters);
        return writer;
    }

    /// <summary>Reads the header, checking length, magic, version and CRC. Returns the algorithm id.</summary>
    public static byte ReadHeader(ReadOnlySpan<byte> state, out long samplesProcessed)
    {
        if (state.Length < HeaderSize + CrcSize)
        {
            throw new InvalidFilterStateException($"Filter state is {state.Length} bytes; a valid state has at least {HeaderSize + CrcSize}.");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(state) != Magic)
        {
            throw new InvalidFilterStateException("Filter state does not start with the magic 'SPFS': it is not a filter state snapshot.");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(state[4..]);
        if (version != Version)
        {
            throw new InvalidFilterStateException($"Filter state version {version} is not supported (supported: {Version}).");
        }

        var body = state[..^CrcSize];
        var expected = BinaryPrimitives.ReadUInt32LittleEndian(state[^CrcSize..]);
        if (Crc32.HashToUInt32(body) != expected)
        {
            throw new InvalidFilterStateException("Filter state checksum does not match: the snapshot is corrupt or truncated.");
        }

        samplesProcessed = BinaryPrimitives.ReadInt64LittleEndian(state[8..]);
        if (samplesProcessed < 0)
        {
            throw new InvalidFilterStateException($"Filter state has a negative sample count ({samplesProcessed}).");
        }

        return state[6];
    }
}

/// <summary>Appends float64 values to a snapshot buffer; <see cref="Finish"/> writes the CRC.</summary>
internal ref struct StateWriter(byte[] buffer, int position)
{
    private readonly byte[] _buffer = buffer;
    private int _position = position;

    public void Write(double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(_buffer.AsSpan(_position), value);
        _position += 8;
    }

    public void Write(ReadOnlySpan<double> values)
    {
        foreach (var value in values)
        {
            Write(value);
        }
    }

    public readonly byte[] Finish()
    {
        if (_position != _buffer.Length - FilterState.CrcSize)
        {
            throw new InvalidOperationException($"State writer wrote {_position} bytes of {_buffer.Length - FilterState.CrcSize}.");
        }

        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_position), Crc32.HashToUInt32(_buffer.AsSpan(0, _position)));
        return _buffer;
    }
}

/// <summary>Reads float64 values of a snapshot after its header, rejecting non-finite values.</summary>
internal ref struct StateReader(ReadOnlySpan<byte> state)
{
    private readonly ReadOnlySpan<byte> _state = state;
    private int _position = FilterState.HeaderSize;

    public readonly int Remaining => _state.Length - FilterState.CrcSize - _position;

    public double Read(string what) => Read(what, parameter: null);

    /// <summary>The value of the parameter <paramref name="name"/>; its description is made only for an error (a restore reads one per parameter).</summary>
    public double ReadParameter(string name) => Read(what: null, name);

    private double Read(string? what, string? parameter)
    {
        if (Remaining < 8)
        {
            throw new InvalidFilterStateException($"Filter state is truncated: {Describe(what, parameter)} is missing.");
        }

        var value = BinaryPrimitives.ReadDoubleLittleEndian(_state[_position..]);
        _position += 8;
        if (!double.IsFinite(value))
        {
            throw new InvalidFilterStateException($"Filter state holds a non-finite value ({ParameterValidation.Format(value)}) in {Describe(what, parameter)}.");
        }

        return value;
    }

    private static string Describe(string? what, string? parameter) => parameter is null ? what! : $"parameter '{parameter}'";

    public void Read(Span<double> destination, string what)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = Read(what);
        }
    }

    public readonly void EnsureEnd()
    {
        if (Remaining != 0)
        {
            throw new InvalidFilterStateException($"Filter state has {Remaining} unexpected trailing bytes.");
        }
    }
}
