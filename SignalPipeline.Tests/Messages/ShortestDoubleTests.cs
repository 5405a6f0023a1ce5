using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.Messages;

/// <summary>
/// <see cref="ShortestDouble"/> (the Ryu port the JSON encoder uses) against the BCL: the same bytes as
/// <c>double.ToString("R", InvariantCulture)</c> and as <see cref="Utf8JsonWriter"/> (what the codec wrote before)
/// wherever the BCL's text round-trips, and always text that parses back to the same bits with no shorter one that does.
/// </summary>
public sealed class ShortestDoubleTests
{
    [Fact]
    public void Random_bit_patterns_format_as_the_bcl_does()
    {
        var random = new Random(14);
        Span<byte> buffer = stackalloc byte[ShortestDouble.MaxLength];
        var checkedCount = 0;
        for (var i = 0; i < 2_000_000; i++)
        {
            var value = BitConverter.Int64BitsToDouble(random.NextInt64(long.MinValue, long.MaxValue) | (i & 1L) << 63);
            if (!double.IsFinite(value))
            {
                continue;
            }

            AssertLikeBcl(value, buffer);
            checkedCount++;
        }

        Assert.True(checkedCount > 1_990_000);
    }

    [Fact]
    public void Doubles_as_filters_write_them_format_as_the_bcl_does()
    {
        // Values of the size a signal has (noisy sines, filter outputs): mostly 16-17 significant digits.
        var random = new Random(17);
        Span<byte> buffer = stackalloc byte[ShortestDouble.MaxLength];
        for (var i = 0; i < 1_000_000; i++)
        {
            var value = (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-8, 9));
            AssertLikeBcl(value, buffer);
            AssertLikeBcl(Math.Round(value, random.Next(0, 6)), buffer);
            AssertLikeBcl((float)value, buffer);
        }
    }

    [Fact]
    public void Edge_cases_format_as_the_bcl_does()
    {
        var values = new List<double>
        {
            0.0, -0.0, double.Epsilon, -double.Epsilon, double.MaxValue, double.MinValue, 2.2250738585072014E-308,
            2.2250738585072009E-308, 0.1, 0.2, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, Math.PI, Math.E, 9007199254740992.0,
            9007199254740993.0, 9007199254740991.0, 18014398509481984.0, 1e15, 1e16, 1e17, 999999999999999.0,
            9999999999999998.0, 123456789012345680.0, 0.0001, 0.00001, 0.00012345, 1.2345e-5, 100, 1e21, 1e22, 1e23,
            5e-324, 1.7976931348623157e308, 4.9406564584124654e-324, 8.41e21, 5.0e-310, 1.5, 2.5, 0.5, 0.25, 0.125,
        };

        for (var e = -1074; e <= 1023; e++)
        {
            values.Add(Math.ScaleB(1, e));
            values.Add(BitConverter.UInt64BitsToDouble(BitConverter.DoubleToUInt64Bits(Math.ScaleB(1, e)) + 1));
            values.Add(BitConverter.UInt64BitsToDouble(BitConverter.DoubleToUInt64Bits(Math.ScaleB(1, e)) - 1));
        }

        for (var e = -325; e <= 309; e++)
        {
            var power = double.Parse($"1e{e}", CultureInfo.InvariantCulture);
            values.Add(power);
            values.Add(BitConverter.UInt64BitsToDouble(BitConverter.DoubleToUInt64Bits(power) + 1));
            values.Add(BitConverter.UInt64BitsToDouble(BitConverter.DoubleToUInt64Bits(power) - 1));
            values.Add(double.Parse($"9.999999999999999e{e}", CultureInfo.InvariantCulture));
        }

        for (ulong subnormal = 1; subnormal < 5000; subnormal++)
        {
            values.Add(BitConverter.UInt64BitsToDouble(subnormal));
            values.Add(BitConverter.UInt64BitsToDouble((1UL << 52) - subnormal));
        }

        for (long integer = 1; integer < 1_000_000_000_000_000_000; integer = integer * 10 + integer % 7)
        {
            values.Add(integer);
            values.Add(integer + 0.5);
        }

        Span<byte> buffer = stackalloc byte[ShortestDouble.MaxLength];
        foreach (var value in values.Where(double.IsFinite))
        {
            AssertLikeBcl(value, buffer);
            AssertLikeBcl(-value, buffer);
        }
    }

    [Fact]
    public void Every_digit_count_at_every_place_of_the_decimal_point_formats_as_the_bcl_does()
    {
        // The digits are written eight at a time (a leading group of 1-8, then full groups): every length from 1 to 17,
        // every digit in every place, with the point before, inside and after them and in both exponent forms.
        var random = new Random(8);
        Span<byte> buffer = stackalloc byte[ShortestDouble.MaxLength];
        for (var length = 1; length <= 17; length++)
        {
            for (var i = 0; i < 200; i++)
            {
                var digits = new char[length];
                for (var d = 0; d < length; d++)
                {
                    digits[d] = (char)('0' + (d == 0 || d == length - 1 ? random.Next(1, 10) : (i + d) % 10));
                }

                for (var exponent = -25; exponent <= 25; exponent++)
                {
                    var value = double.Parse($"{new string(digits)}E{exponent}", CultureInfo.InvariantCulture);
                    AssertLikeBcl(value, buffer);
                    AssertLikeBcl(-value, buffer);
                }
            }
        }
    }

    [Fact]
    public void The_text_is_what_utf8_json_writer_writes()
    {
        var random = new Random(3);
        var output = new ArrayBufferWriter<byte>();
        using var writer = new Utf8JsonWriter(output);
        Span<byte> buffer = stackalloc byte[ShortestDouble.MaxLength];
        for (var i = 0; i < 100_000; i++)
        {
            var value = i % 2 == 0
                ? BitConverter.Int64BitsToDouble(random.NextInt64(0, 0x7FF0_0000_0000_0000))
                : (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-25, 25));
            output.ResetWrittenCount();
            writer.Reset(output);
            writer.WriteNumberValue(value);
            writer.Flush();

            var written = ShortestDouble.Format(value, buffer);

            Assert.Equal(Encoding.ASCII.GetString(output.WrittenSpan), Encoding.ASCII.GetString(buffer[..written]));
        }
    }

    [Theory]
    [InlineData(0.30000000000000004, "0.30000000000000004")]
    [InlineData(-0.0, "-0")]
    [InlineData(1e16, "10000000000000000")]
    [InlineData(9.999999999999998e16, "99999999999999980")]
    [InlineData(1e17, "1E+17")]
    [InlineData(1.5e17, "1.5E+17")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1E-05")]
    [InlineData(5e-324, "5E-324")]
    [InlineData(-1.7976931348623157e308, "-1.7976931348623157E+308")]
    [InlineData(123.456, "123.456")]
    [InlineData(1, "1")]
    [InlineData(4.1045368012983762E-289, "4.1045368012983762E-289")]
    public void Known_values(double value, string expected)
    {
        Span<byte> buffer = stackalloc byte[ShortestDouble.MaxLength];

        var written = ShortestDouble.Format(value, buffer);

        Assert.Equal(expected, Encoding.ASCII.GetString(buffer[..written]));
    }

    [Fact]
    public void Non_finite_values_and_short_buffers_are_refused()
    {
        var buffer = new byte[ShortestDouble.MaxLength];

        Assert.Throws<ArgumentException>(() => ShortestDouble.Format(double.NaN, buffer));
        Assert.Throws<ArgumentException>(() => ShortestDouble.Format(double.PositiveInfinity, buffer));
        Assert.Throws<ArgumentException>(() => ShortestDouble.Format(1, new byte[ShortestDouble.MaxLength - 1]));
    }

    /// <summary>
    /// The BCL's text for some powers of two does not parse back to them (2^-958: .NET writes 4.104536801298376E-289,
    /// which is another double; Python and Ryu write 4.1045368012983762E-289). Where the BCL's text round-trips, ours
    /// must be the same bytes; where it does not, ours must round-trip and no shorter decimal may.
    /// </summary>
    private static void AssertLikeBcl(double value, Span<byte> buffer)
    {
        var written = ShortestDouble.Format(value, buffer);
        var text = Encoding.ASCII.GetString(buffer[..written]);
        var expected = value.ToString("R", CultureInfo.InvariantCulture);
        if (!ParsesTo(text, value))
        {
            Assert.Fail($"{BitConverter.DoubleToInt64Bits(value):X16}: {text} does not parse back to the same bits");
        }

        if (ParsesTo(expected, value) ? text != expected : !NoShorterDecimalParsesTo(text, value))
        {
            Assert.Fail($"{BitConverter.DoubleToInt64Bits(value):X16}: ShortestDouble wrote {text}, the BCL {expected}");
        }
    }

    private static bool ParsesTo(string text, double value)
        => BitConverter.DoubleToInt64Bits(double.Parse(text, CultureInfo.InvariantCulture)) == BitConverter.DoubleToInt64Bits(value);

    /// <summary>
    /// Whether <paramref name="text"/> (n significant digits) is shortest: the two (n-1)-digit decimals nearest the value
    /// (any other is farther away, so if one of them fails, all fail) do not parse to it.
    /// </summary>
    private static bool NoShorterDecimalParsesTo(string text, double value)
    {
        var parts = text.TrimStart('-').Split('E');
        var exponent = parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : 0;
        var point = parts[0].IndexOf('.', StringComparison.Ordinal);
        var digits = parts[0].Replace(".", "", StringComparison.Ordinal);
        exponent -= point < 0 ? 0 : digits.Length - point;
        digits = digits.TrimStart('0');
        if (digits.Length <= 1)
        {
            return true;
        }

        var shorter = System.Numerics.BigInteger.Parse(digits[..^1], CultureInfo.InvariantCulture);
        var sign = text.StartsWith('-') ? "-" : "";
        return !ParsesTo($"{sign}{shorter}E{exponent + 1}", value) && !ParsesTo($"{sign}{shorter + 1}E{exponent + 1}", value);
    }
}
