using System.Numerics;
using System.Runtime.CompilerServices;

namespace SignalPipeline.Messages;

/// <summary>
/// Formats a finite <see cref="double"/> as the shortest UTF-8 text that parses back to the same bits, byte for byte
/// what <see cref="System.Text.Json.Utf8JsonWriter.WriteNumberValue(double)"/> (and <c>double.ToString("R",
/// CultureInfo.InvariantCulture)</c>) writes wherever that text parses back (for a few doubles it does not: 2^-958 is
/// written 4.104536801298376E-289, another double; this writes 4.1045368012983762E-289): <c>0.30000000000000004</c>,
/// <c>-0</c>, <c>10000000000000000</c>, <c>1E+17</c>, <c>0.0001</c>, <c>1E-05</c>, <c>5E-324</c>. About twice as fast as the BCL's formatting (docs/benchmarks.md), which is what the JSON encoder spends its time on.
/// </summary>
/// <remarks>
/// The digits come from Ryu (Ulf Adams, "Ryū: fast float-to-string conversion", PLDI 2018; reference implementation
/// github.com/ulfjack/ryu, <c>ryu/d2s.c</c>, Apache-2.0 or Boost-1.0), rewritten here in C#: the double's rounding
/// interval is scaled to a decimal power with one 64x128-bit multiplication per bound, then digits are removed while
/// the interval still holds a shorter number, and the result is the one closest to the exact value (ties to even).
/// The power-of-5 tables (the C code's <c>DOUBLE_POW5_SPLIT</c> / <c>DOUBLE_POW5_INV_SPLIT</c>) are computed once
/// with <see cref="BigInteger"/> instead of being pasted. The text layout is .NET's: scientific notation when the
/// decimal point would sit more than 17 places right of the first digit or more than 4 places left of it.
/// Tested against the BCL on millions of random bit patterns and on the edge cases (ShortestDoubleTests).
/// </remarks>
public static partial class ShortestDouble
{
    /// <summary>Longest text this writes: <c>-2.2250738585072014E-308</c> is 24 bytes.</summary>
    public const int MaxLength = 24;

    /// <summary>A destination long enough for <see cref="Format"/>: the longest text and the bytes past it it may overwrite.</summary>
    public const int BufferLength = MaxLength + 8;

    private const int MantissaBits = 52;
    private const int ExponentBias = 1023;
    private const int Pow5InverseBitCount = 125;
    private const int Pow5BitCount = 125;

    // Entry q: floor(2^(bitlength(5^q) - 1 + 125) / 5^q) + 1, and 5^i scaled to exactly 125 bits (Ryu's tables).
    private static readonly (ulong Low, ulong High)[] Pow5Inverse = BuildInverseTable(342);
    private static readonly (ulong Low, ulong High)[] Pow5 = BuildTable(326);

    /// <summary>Writes <paramref name="value"/> (finite) to <paramref name="destination"/> (at least
    /// <see cref="MaxLength"/> bytes) and returns the number of bytes written; the digits go eight at a time, so up to
    /// seven bytes after them may be overwritten too.</summary>
    /// <exception cref="ArgumentException">The value is NaN or infinite, or the destination is too short.</exception>
    public static int Format(double value, Span<byte> destination)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentException($"{value} has no JSON number form.", nameof(value));
        }

        if (destination.Length < MaxLength)
        {
            throw new ArgumentException($"The destination must hold {MaxLength} bytes.", nameof(destination));
        }

        var bits = BitConverter.DoubleToUInt64Bits(value);
        var index = 0;
        if ((long)bits < 0)
        {
            destination[index++] = (byte)'-';
        }

        var mantissa = bits & ((1UL << MantissaBits) - 1);
        var exponent = (uint)(bits >> MantissaBits) & 0x7FF;
        if (exponent == 0 && mantissa == 0)
        {
            destination[index] = (byte)'0';
            return index + 1;
        }

        var (digits, exponent10) = TrySmallInteger(mantissa, exponent, out var integer)
            ? integer
            : ToDecimal(mantissa, exponent);
        return index + WriteText(digits, exponent10, destination[index..]);
    }

    /// <summary>Integers in [1, 2^53) are their own shortest form: their digits, trailing zeros moved to the exponent.</summary>
    private static bool TrySmallInteger(ulong mantissa, uint exponent, out (ulong Digits, int Exponent10) result)
    {
        result = default;
        var m2 = (1UL << MantissaBits) | mantissa;
        var e2 = (int)exponent - ExponentBias - MantissaBits;
        if (e2 > 0 || e2 < -52 || (m2 & ((1UL << -e2) - 1)) != 0)
        {
            return false;
        }

        var digits = m2 >> -e2;
        var exponent10 = 0;
        while (digits % 10 == 0)
        {
            digits /= 10;
            exponent10++;
        }

        result = (digits, exponent10);
        return true;
    }

    /// <summary>Ryu's core: the shortest decimal <c>digits × 10^exponent10</c> inside the double's rounding interval.</summary>
    private static (ulong Digits, int Exponent10) ToDecimal(ulong mantissa, uint exponent)
    {
        // Two extra bits so the interval's bounds (half an ulp either side) are integers too.
        int e2;
        ulong m2;
        if (exponent == 0)
        {
            e2 = 1 - ExponentBias - MantissaBits - 2;
            m2 = mantissa;
        }
        else
        {
            e2 = (int)exponent - ExponentBias - MantissaBits - 2;
            m2 = (1UL << MantissaBits) | mantissa;
        }

        // Round-half-even parsing maps a bound to an even mantissa, so the bounds belong to it.
        var acceptBounds = (m2 & 1) == 0;
        var mv = 4 * m2;

        // The lower bound is closer when the mantissa is a power of two (the binade below is twice as dense).
        var mmShift = mantissa != 0 || exponent <= 1 ? 1u : 0u;

        ulong vr, vp, vm;
        int e10;
        bool vmIsTrailingZeros = false, vrIsTrailingZeros = false;
        if (e2 >= 0)
        {
            var q = Log10Pow2(e2) - (e2 > 3 ? 1 : 0);
            e10 = q;
            var k = Pow5InverseBitCount + Pow5Bits(q) - 1;
            var i = -e2 + q + k;
            var (low, high) = Pow5Inverse[q];
            vr = MulShift(4 * m2, low, high, i);
            vp = MulShift(4 * m2 + 2, low, high, i);
            vm = MulShift(4 * m2 - 1 - mmShift, low, high, i);
            if (q <= 21)
            {
                // Only one of mp, mv and mm can be a multiple of 5, if any.
                if (mv % 5 == 0)
                {
                    vrIsTrailingZeros = IsMultipleOfPowerOf5(mv, q);
                }
                else if (acceptBounds)
                {
                    vmIsTrailingZeros = IsMultipleOfPowerOf5(mv - 1 - mmShift, q);
                }
                else if (IsMultipleOfPowerOf5(mv + 2, q))
                {
                    vp--;
                }
            }
        }
        else
        {
            var q = Log10Pow5(-e2) - (-e2 > 1 ? 1 : 0);
            e10 = q + e2;
            var i = -e2 - q;
            var k = Pow5Bits(i) - Pow5BitCount;
            var j = q - k;
            var (low, high) = Pow5[i];
            vr = MulShift(4 * m2, low, high, j);
            vp = MulShift(4 * m2 + 2, low, high, j);
            vm = MulShift(4 * m2 - 1 - mmShift, low, high, j);
            if (q <= 1)
            {
                // mv = 4·m2 has two trailing zero bits; mm has one exactly when mmShift is 1; mp always has one.
                vrIsTrailingZeros = true;
                if (acceptBounds)
                {
                    vmIsTrailingZeros = mmShift == 1;
                }
                else
                {
                    vp--;
                }
            }
            else if (q < 63)
            {
                vrIsTrailingZeros = (mv & ((1UL << q) - 1)) == 0;
            }
        }

        var removed = 0;
        ulong output;
        if (vmIsTrailingZeros || vrIsTrailingZeros)
        {
            // Rare (under 1 %): the exact value or the lower bound may end in zeros, which decides ties and bounds.
            var lastRemovedDigit = 0UL;
            while (vp / 10 > vm / 10)
            {
                vmIsTrailingZeros &= vm % 10 == 0;
                vrIsTrailingZeros &= lastRemovedDigit == 0;
                lastRemovedDigit = vr % 10;
                vr /= 10;
                vp /= 10;
                vm /= 10;
                removed++;
            }

            if (vmIsTrailingZeros)
            {
                while (vm % 10 == 0)
                {
                    vrIsTrailingZeros &= lastRemovedDigit == 0;
                    lastRemovedDigit = vr % 10;
                    vr /= 10;
                    vp /= 10;
                    vm /= 10;
                    removed++;
                }
            }

            if (vrIsTrailingZeros && lastRemovedDigit == 5 && vr % 2 == 0)
            {
                // Exactly half way: round to even.
                lastRemovedDigit = 4;
            }

            output = vr + ((vr == vm && (!acceptBounds || !vmIsTrailingZeros)) || lastRemovedDigit >= 5 ? 1UL : 0UL);
        }
        else
        {
            var roundUp = false;
            if (vp / 100 > vm / 100)
            {
                // Usually two digits go at once.
                roundUp = vr % 100 >= 50;
                vr /= 100;
                vp /= 100;
                vm /= 100;
                removed += 2;
            }

            while (vp / 10 > vm / 10)
            {
                roundUp = vr % 10 >= 5;
                vr /= 10;
                vp /= 10;
                vm /= 10;
                removed++;
            }

            output = vr + (vr == vm || roundUp ? 1UL : 0UL);
        }

        return (output, e10 + removed);
    }

    /// <summary>The top bits of the 189-bit product <c>m × (high·2^64 + low)</c>, shifted right by <paramref name="shift"/> (&gt; 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MulShift(ulong m, ulong low, ulong high, int shift)
    {
        var lowHigh = Math.BigMul(m, low, out _);
        var highHigh = Math.BigMul(m, high, out var highLow);
        var middle = highLow + lowHigh;
        if (middle < highLow)
        {
            highHigh++;
        }

        var s = shift - 64;
        return (highHigh << (64 - s)) | (middle >> s);
    }

    private static bool IsMultipleOfPowerOf5(ulong value, int p)
    {
        var count = 0;
        while (value > 0 && value % 5 == 0)
        {
            value /= 5;
            count++;
        }

        return count >= p;
    }

    /// <summary>ceil(log2(5^e)) for e &gt; 0, 1 for e = 0 (exact for 0 ≤ e ≤ 3528).</summary>
    private static int Pow5Bits(int e) => (int)(((uint)e * 1217359) >> 19) + 1;

    /// <summary>floor(log10(2^e)) (exact for 0 ≤ e ≤ 1650).</summary>
    private static int Log10Pow2(int e) => (int)(((uint)e * 78913) >> 18);

    /// <summary>floor(log10(5^e)) (exact for 0 ≤ e ≤ 2620).</summary>
    private static int Log10Pow5(int e) => (int)(((uint)e * 732923) >> 20);

    private static (ulong, ulong)[] BuildInverseTable(int count)
    {
        var table = new (ulong, ulong)[count];
        for (var q = 0; q < count; q++)
        {
            var pow = BigInteger.Pow(5, q);
            var inverse = (BigInteger.One << ((int)pow.GetBitLength() - 1 + Pow5InverseBitCount)) / pow + 1;
            table[q] = Split(inverse);
        }

        return table;
    }

    private static (ulong, ulong)[] BuildTable(int count)
    {
        var table = new (ulong, ulong)[count];
        for (var i = 0; i < count; i++)
        {
            var pow = BigInteger.Pow(5, i);
            var shift = (int)pow.GetBitLength() - Pow5BitCount;
            table[i] = Split(shift >= 0 ? pow >> shift : pow << -shift);
        }

        return table;
    }

    private static (ulong, ulong) Split(BigInteger value)
        => ((ulong)(value & ulong.MaxValue), (ulong)(value >> 64));
}
