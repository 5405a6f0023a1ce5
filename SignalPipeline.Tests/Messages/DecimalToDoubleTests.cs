using System.Globalization;
using System.Numerics;
using System.Text;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.Messages;

/// <summary>
/// The decoder's own decimal-to-double step (Clinger, then Eisel-Lemire) against <c>double.Parse</c>: the same bits for
/// every decimal it claims, and the whole codec path on a million doubles as the encoder writes them.
/// </summary>
public sealed class DecimalToDoubleTests
{
    [Fact]
    public void Decimals_of_up_to_19_digits_convert_to_the_same_bits_as_double_Parse()
    {
        var random = new Random(19);
        var claimed = 0;
        for (var i = 0; i < 2_000_000; i++)
        {
            var digits = random.Next(1, 20);
            var w = (ulong)random.NextInt64(1, long.MaxValue) % (ulong)BigInteger.Pow(10, digits) | 1;
            var q = i % 4 == 0 ? random.Next(-350, 320) : random.Next(-25, 5) - digits;
            var negative = i % 3 == 0;
            if (!DecimalToDouble.TryConvert(negative, w, q, out var value))
            {
                continue;
            }

            claimed++;
            var expected = double.Parse($"{(negative ? "-" : "")}{w}E{q}", CultureInfo.InvariantCulture);
            if (BitConverter.DoubleToInt64Bits(value) != BitConverter.DoubleToInt64Bits(expected))
            {
                Assert.Fail($"{w}E{q}: {value:R}, double.Parse {expected:R}");
            }
        }

        // Most decimals are decided here, not by the general parser.
        Assert.True(claimed > 1_500_000, $"only {claimed} of 2M converted");
    }

    [Theory]
    [InlineData(1UL, -22, true)]
    [InlineData(9007199254740993UL, 0, false)] // 2^53 + 1: a halfway case
    [InlineData(17976931348623157UL, 292, true)]
    [InlineData(49406564584124654UL, -340, false)] // the smallest subnormal
    [InlineData(22250738585072014UL, -324, false)] // the smallest normal
    [InlineData(9999999999999999999UL, -19, true)]
    [InlineData(1UL, 30, true)]
    [InlineData(123456789012345678UL, -35, true)]
    public void Edge_decimals_are_converted_exactly_or_left_to_the_general_parser(ulong w, int q, bool claimed)
    {
        foreach (var negative in new[] { false, true })
        {
            var text = $"{(negative ? "-" : "")}{w}E{q}";
            var expected = BitConverter.DoubleToInt64Bits(double.Parse(text, CultureInfo.InvariantCulture));
            Assert.Equal(claimed, DecimalToDouble.TryConvert(negative, w, q, out var value));
            if (claimed)
            {
                Assert.Equal(expected, BitConverter.DoubleToInt64Bits(value));
            }

            // Claimed or left to the general parser, the codec reads the same bits as double.Parse.
            var json = $$"""{"stream_id":"sensor-1","seq":0,"signal":[{{text}}]}""";
            Assert.True(SampleCodec.TryDecodeSampleChunk("sensor-1"u8, Encoding.UTF8.GetBytes(json), null, out var chunk, out var error), error.Message);
            Assert.Equal(expected, BitConverter.DoubleToInt64Bits(Assert.Single(chunk.Signal.ToArray())));
        }
    }

    [Fact]
    public void A_million_encoded_doubles_decode_to_the_same_bits()
    {
        var random = new Random(256);
        var signal = new double[4096];
        for (var round = 0; round < 250; round++)
        {
            for (var i = 0; i < signal.Length; i++)
            {
                signal[i] = round % 2 == 0
                    ? Math.Sin(i * 0.05) + 0.05 * (random.NextDouble() - 0.5)
                    : BitConverter.Int64BitsToDouble(random.NextInt64(0, 0x7FEF_FFFF_FFFF_FFFF)) * (i % 2 == 0 ? 1 : -1);
            }

            var message = SampleCodec.ToMessage(new SampleChunk("sensor-1", round, signal, null, null));
            Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, null, out var chunk, out var error), error.Message);
            Assert.Equal(signal.Select(BitConverter.DoubleToInt64Bits), chunk.Signal.ToArray().Select(BitConverter.DoubleToInt64Bits));
        }
    }

    [Fact]
    public void Numbers_of_more_than_19_digits_and_leading_zeros_parse_as_the_bcl_does()
    {
        string[] texts = ["0.000000000000000000001234", "12345678901234567890123", "0.00012345678901234567", "1.00000000000000000000001",
            "9007199254740993.0000000001", "-0.0000", "0e400", "1e-400", "2.4703282292062328e-324", "123456789012345678901234567890e-30"];
        var json = $$"""{"stream_id":"sensor-1","seq":0,"signal":[{{string.Join(",", texts)}}]}""";

        Assert.True(SampleCodec.TryDecodeSampleChunk("sensor-1"u8, Encoding.UTF8.GetBytes(json), null, out var chunk, out var error), error.Message);

        Assert.Equal(texts.Select(t => BitConverter.DoubleToInt64Bits(double.Parse(t, CultureInfo.InvariantCulture))),
            chunk.Signal.ToArray().Select(BitConverter.DoubleToInt64Bits));
    }
}
