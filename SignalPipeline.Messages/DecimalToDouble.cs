using System.Numerics;

namespace SignalPipeline.Messages;

/// <summary>
/// The correctly rounded double nearest to <c>w × 10^q</c> for a decimal of at most 19 digits, the way
/// <c>double.Parse</c> and csFastFloat round it, without re-reading the text: Clinger's exact fast path, then
/// Eisel-Lemire (Daniel Lemire, "Number Parsing at a Gigabyte per Second", Software: Practice and Experience 51(8),
/// 2021; reference implementation github.com/fastfloat/fast_float, <c>decimal_to_binary.h</c>, Apache-2.0/MIT/Boost).
/// Written here in C#, with the 128-bit powers of five computed once with <see cref="BigInteger"/> (as fast_float's
/// table generation script does). Where the product cannot decide the rounding (subnormal or overflowing results,
/// possible exact halfway cases, a truncated product whose low bits are all ones), it says so and the caller parses
/// the text the slow, general way.
/// </summary>
internal static class DecimalToDouble
{
    private const int SmallestPowerOfTen = -342;
    private const int LargestPowerOfTen = 308;

    // 10^0 .. 10^22 are exact doubles: Clinger's fast path.
    private static readonly double[] ExactPowersOfTen =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

    // Entry 2·(q + 342) and the next: the high and low 64 bits of 5^q, normalised to 128 bits (truncated for q ≥ 0,
    // rounded up for q < 0).
    private static readonly ulong[] PowersOfFive = BuildPowersOfFive();

    /// <summary>The double for <c>(negative ? -1 : 1) × w × 10^q</c> (w exact, at most 19 digits), or false when only a
    /// general parser can decide it.</summary>
    public static bool TryConvert(bool negative, ulong w, long q, out double value)
    {
        if (w <= 1UL << 53 && q is >= -22 and <= 22)
        {
            value = q < 0 ? w / ExactPowersOfTen[-q] : w * ExactPowersOfTen[q];
            value = negative ? -value : value;
            return true;
        }

        value = 0;
        if (w == 0 || q is < -300 or > 300 || q is >= -4 and <= 23)
        {
            // Zero with an exponent, results near the subnormal or overflow range, and the only exponents where an
            // exact halfway case can occur: the general parser.
            return false;
        }

        var leadingZeros = BitOperations.LeadingZeroCount(w);
        w <<= leadingZeros;
        var index = 2 * (int)(q - SmallestPowerOfTen);
        var high = Math.BigMul(w, PowersOfFive[index], out var low);
        if ((high & 0x1FF) == 0x1FF)
        {
            // The 55 bits we keep may be off by one: take the next 64 bits of the power into account.
            var secondHigh = Math.BigMul(w, PowersOfFive[index + 1], out _);
            low += secondHigh;
            if (secondHigh > low)
            {
                high++;
            }

            if ((high & 0x1FF) == 0x1FF && low == ulong.MaxValue)
            {
                return false;
            }
        }

        var upperBit = (int)(high >> 63);
        var mantissa = high >> (upperBit + 9);
        var power2 = (int)((((152170 + 65536) * q) >> 16) + 63) + upperBit - leadingZeros + 1023;
        if (power2 <= 0)
        {
            return false;
        }

        // Round half up here is exact: halfway cases were excluded above.
        mantissa += mantissa & 1;
        mantissa >>= 1;
        if (mantissa >= 2UL << 52)
        {
            mantissa = 1UL << 52;
            power2++;
        }

        if (power2 >= 0x7FF)
        {
            return false;
        }

        var bits = (mantissa & ~(1UL << 52)) | ((ulong)power2 << 52) | (negative ? 1UL << 63 : 0);
        value = BitConverter.UInt64BitsToDouble(bits);
        return true;
    }

    private static ulong[] BuildPowersOfFive()
    {
        var table = new ulong[2 * (LargestPowerOfTen - SmallestPowerOfTen + 1)];
        var two128 = BigInteger.One << 128;
        for (var q = SmallestPowerOfTen; q <= LargestPowerOfTen; q++)
        {
            BigInteger entry;
            if (q < 0)
            {
                var power = BigInteger.Pow(5, -q);
                var z = (int)(power - 1).GetBitLength();
                entry = (BigInteger.One << (q >= -27 ? z + 127 : 2 * z + 128)) / power + 1;
                while (entry >= two128)
                {
                    entry >>= 1;
                }
            }
            else
            {
                entry = BigInteger.Pow(5, q);
                var shift = 128 - (int)entry.GetBitLength();
                entry = shift >= 0 ? entry << shift : entry >> -shift;
            }

            var index = 2 * (q - SmallestPowerOfTen);
            table[index] = (ulong)(entry >> 64);
            table[index + 1] = (ulong)(entry & ulong.MaxValue);
        }

        return table;
    }
}
