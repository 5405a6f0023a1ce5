using System.Globalization;
using System.Text;
using System.Text.Json;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.Messages;

/// <summary>
/// The JSON decoder parses samples arrays itself (csFastFloat, issue 14): it must read every JSON number to the same
/// double as the BCL, refuse what JSON refuses, and report errors exactly as the reader's path does.
/// </summary>
public sealed class SampleCodecJsonNumberTests
{
    private static readonly byte[] Sensor1 = "sensor-1"u8.ToArray();

    [Theory]
    [InlineData("R")]
    [InlineData("E16")]
    [InlineData("G17")]
    [InlineData("F3")]
    [InlineData("0.############################e+0")]
    public void Every_number_form_parses_to_the_same_bits_as_double_Parse(string format)
    {
        var random = new Random(format.GetHashCode(StringComparison.Ordinal));
        var texts = new List<string>();
        for (var i = 0; i < 5000; i++)
        {
            double value;
            do
            {
                value = i % 2 == 0 ? BitConverter.Int64BitsToDouble(random.NextInt64(long.MinValue, long.MaxValue)) : (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-30, 30));
            }
            while (!double.IsFinite(value) || format == "F3" && Math.Abs(value) > 1e15);

            texts.Add(value.ToString(format, CultureInfo.InvariantCulture).Replace("E", i % 3 == 0 ? "e" : "E", StringComparison.Ordinal));
        }

        texts.AddRange(["0", "-0", "1", "-1", "0.5", "1e5", "1E-5", "1e+5", "123456789012345678901234567890", "4.9406564584124654e-324", "2.2250738585072011e-308"]);
        var json = $$"""{"stream_id":"sensor-1","seq":0,"signal":[ {{string.Join(Separator, texts)}} ]}""";

        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, Encoding.UTF8.GetBytes(json), null, out var chunk, out var error), error.Message);

        var expected = texts.Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), chunk.Signal.ToArray().Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(json.IndexOf('[', StringComparison.Ordinal), chunk.SignalJsonRange!.Value.Start.Value);
        Assert.Equal(json.LastIndexOf(']') + 1, chunk.SignalJsonRange!.Value.End.Value);
    }

    // A separator with every kind of JSON whitespace in it.
    private const string Separator = ", \n\t\r";

    [Theory]
    [InlineData("01")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("+1")]
    [InlineData("1e")]
    [InlineData("1e+")]
    [InlineData("-")]
    [InlineData("0x10")]
    [InlineData("1,]")]
    [InlineData("1 2")]
    [InlineData("1;2")]
    public void Text_that_is_not_a_json_number_is_malformed(string samples)
    {
        var json = $$"""{"stream_id":"sensor-1","seq":0,"signal":[{{samples}}]}""";

        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, Encoding.UTF8.GetBytes(json), null, out _, out var error));
        Assert.Equal(DecodeErrorCode.MalformedJson, error.Code);
    }

    [Theory]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,2],"x":}""")]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,2] "seq":1}""")]
    [InlineData("""{"stream_id":"sensor-1","signal":[1,2],"seq":0}   {}""")]
    public void An_error_after_the_samples_names_its_true_position(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);

        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, bytes, null, out _, out var error));

        Assert.Equal(DecodeErrorCode.MalformedJson, error.Code);
        Assert.Equal($"malformed JSON: {ReaderMessage(bytes)}", error.Message);
    }

    [Fact]
    public void Filtered_signal_is_parsed_the_same_way()
    {
        var json = """{"stream_id":"sensor-1","seq":3,"algorithm":"kalman","signal":[1, -2.5],"filtered_signal":[ 0.5 ,2.5e-1],"timestamp_ms":1,"processed_ms":2}""";

        Assert.True(SampleCodec.TryDecodeFilteredChunk(Sensor1, Encoding.UTF8.GetBytes(json), null, out var chunk, out var error), error.Message);

        Assert.Equal([1, -2.5], chunk.Signal.ToArray());
        Assert.Equal([0.5, 0.25], chunk.FilteredSignal.ToArray());
        Assert.Equal(2, chunk.ProcessedMs);
    }

    /// <summary>What System.Text.Json's reader says about the first error in <paramref name="json"/>.</summary>
    private static string ReaderMessage(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            return e.Message;
        }

        throw new InvalidOperationException("The reader found no error.");
    }
}
