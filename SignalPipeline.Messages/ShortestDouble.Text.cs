using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace SignalPipeline.Messages;

// The text layout: .NET's, for the digits Ryu found (ShortestDouble.cs).
public static partial class ShortestDouble
{
    /// <summary>.NET's layout of <c>digits × 10^exponent10</c> (digits has no trailing zero). The digits are written
    /// eight at a time, so up to seven bytes after the returned length may be overwritten (<paramref name="destination"/>
    /// holds at least <see cref="MaxLength"/> - 1 bytes).</summary>
    private static int WriteText(ulong digits, int exponent10, Span<byte> destination)
    {
        var length = DecimalLength(digits);

        // scale: digits left of the decimal point (negative: zeros between the point and the first digit).
        var scale = exponent10 + length;
        if (scale > 17 || scale < -3)
        {
            return WriteScientific(digits, length, scale - 1, destination);
        }

        if (scale <= 0)
        {
            // 0.000ddd
            destination[0] = (byte)'0';
            destination[1] = (byte)'.';
            var zeros = -scale;
            destination.Slice(2, zeros).Fill((byte)'0');
            WriteDigits(digits, length, destination[(2 + zeros)..]);
            return 2 + zeros + length;
        }

        if (scale >= length)
        {
            // ddd000
            WriteDigits(digits, length, destination);
            destination[length..scale].Fill((byte)'0');
            return scale;
        }

        // dd.ddd: write the digits one place right, then move the integer part (a few bytes) left over the point.
        WriteDigits(digits, length, destination[1..]);
        for (var k = 0; k < scale; k++)
        {
            destination[k] = destination[k + 1];
        }

        destination[scale] = (byte)'.';
        return length + 1;
    }

    private static int WriteScientific(ulong digits, int length, int exponent, Span<byte> destination)
    {
        // d.dddE+XX: write the digits from index 1, then move the first one in front of the point.
        WriteDigits(digits, length, destination[1..]);
        destination[0] = destination[1];
        var index = 1;
        if (length > 1)
        {
            destination[1] = (byte)'.';
            index = length + 1;
        }

        destination[index++] = (byte)'E';
        destination[index++] = exponent < 0 ? (byte)'-' : (byte)'+';
        var magnitude = (uint)Math.Abs(exponent);
        if (magnitude >= 100)
        {
            destination[index++] = (byte)('0' + magnitude / 100);
            magnitude %= 100;
        }

        destination[index++] = (byte)('0' + magnitude / 10);
        destination[index++] = (byte)('0' + magnitude % 10);
        return index;
    }

    /// <summary>
    /// Writes the <paramref name="length"/> digits of <paramref name="value"/> (below 10^17) from the start of
    /// <paramref name="destination"/>, in groups of eight with one 8-byte store each (<see cref="EightDigits"/>): the
    /// leading group first, then the full ones over its tail. Overwrites up to <c>8 - length</c> bytes after the
    /// digits; <paramref name="destination"/> holds at least <c>max(length, 8)</c> bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteDigits(ulong value, int length, Span<byte> destination)
    {
        if (length <= 8)
        {
            WriteLeading((uint)value, length, destination);
            return;
        }

        var high = value / 100_000_000;
        var low = (uint)(value - high * 100_000_000);
        if (length <= 16)
        {
            WriteLeading((uint)high, length - 8, destination);
        }
        else
        {
            // 17 digits: the first alone, then two groups of eight.
            var top = high / 100_000_000;
            destination[0] = (byte)('0' + top);
            BinaryPrimitives.WriteUInt64LittleEndian(destination[1..], EightDigits((uint)(high - top * 100_000_000)));
        }

        BinaryPrimitives.WriteUInt64LittleEndian(destination[(length - 8)..], EightDigits(low));
    }

    /// <summary>The <paramref name="count"/> (1-8) digits of <paramref name="value"/> at the start of the 8-byte store;
    /// its other bytes are what follows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteLeading(uint value, int count, Span<byte> destination)
        => BinaryPrimitives.WriteUInt64LittleEndian(destination, EightDigits(value) >> (8 * (8 - count)));

    /// <summary>
    /// The eight decimal digits of <paramref name="value"/> (below 10^8, zero-padded) as ASCII in a little-endian
    /// ulong, the first digit in the lowest byte: split into two lanes of four digits, then four of two, then eight of
    /// one, each lane's quotient by a multiply and shift that is exact for its range (x/100 = x·10486 >> 20 for
    /// x &lt; 10^4, x/10 = x·103 >> 10 for x &lt; 100), every lane in the same multiply (SWAR).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong EightDigits(uint value)
    {
        var fours = (value / 10_000) | ((ulong)(value % 10_000) << 32);
        var hundreds = ((fours * 10486) >> 20) & 0x0000_007F_0000_007F;
        var twos = hundreds | ((fours - hundreds * 100) << 16);
        var tens = ((twos * 103) >> 10) & 0x000F_000F_000F_000F;
        return tens | ((twos - tens * 10) << 8) | 0x3030_3030_3030_3030;
    }

    /// <summary>Digits in <paramref name="value"/> (at most 17 here); from the top, as signal values mostly have 16 or 17.</summary>
    private static int DecimalLength(ulong value)
    {
        var length = 17;
        for (var power = 10_000_000_000_000_000UL; length > 1 && value < power; power /= 10)
        {
            length--;
        }

        return length;
    }
}
