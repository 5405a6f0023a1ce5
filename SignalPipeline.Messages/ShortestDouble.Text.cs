using System.Runtime.CompilerServices;

namespace SignalPipeline.Messages;

// The text layout: .NET's, for the digits Ryu found (ShortestDouble.cs).
public static partial class ShortestDouble
{
    /// <summary>.NET's layout of <c>digits × 10^exponent10</c> (digits has no trailing zero).</summary>
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
            WriteDigits(digits, destination.Slice(2 + zeros, length));
            return 2 + zeros + length;
        }

        if (scale >= length)
        {
            // ddd000
            WriteDigits(digits, destination[..length]);
            destination[length..scale].Fill((byte)'0');
            return scale;
        }

        // dd.ddd: write the digits one place right, then move the integer part (a few bytes) left over the point.
        WriteDigits(digits, destination.Slice(1, length));
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
        WriteDigits(digits, destination.Slice(1, length));
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

    /// <summary>Writes exactly <c>destination.Length</c> digits of <paramref name="value"/>, from the right: groups of
    /// four split into two independent pairs, so the divisions do not wait on each other (as Ryu's to_chars does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteDigits(ulong value, Span<byte> destination)
    {
        var i = destination.Length;
        if (value >= 100_000_000)
        {
            // 17 digits do not fit in 32 bits: take the low eight with one 64-bit division, the rest in 32-bit steps.
            var high = value / 100_000_000;
            var low = (uint)(value - high * 100_000_000);
            WriteFour(low % 10_000, destination, i - 4);
            WriteFour(low / 10_000, destination, i - 8);
            i -= 8;
            value = high;
        }

        var rest = (uint)value;
        while (rest >= 10_000)
        {
            var four = rest % 10_000;
            rest /= 10_000;
            WriteFour(four, destination, i - 4);
            i -= 4;
        }

        if (rest >= 100)
        {
            WritePair(rest % 100, destination, i - 2);
            rest /= 100;
            i -= 2;
        }

        if (rest >= 10)
        {
            WritePair(rest, destination, i - 2);
        }
        else
        {
            destination[i - 1] = (byte)('0' + rest);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteFour(uint four, Span<byte> destination, int at)
    {
        WritePair(four / 100, destination, at);
        WritePair(four % 100, destination, at + 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WritePair(uint pair, Span<byte> destination, int at)
    {
        var pairs = DigitPairs;
        destination[at] = pairs[(int)pair * 2];
        destination[at + 1] = pairs[(int)pair * 2 + 1];
    }

    private static ReadOnlySpan<byte> DigitPairs =>
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"u8;

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
