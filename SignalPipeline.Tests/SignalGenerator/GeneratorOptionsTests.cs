using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SignalGenerator;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.SignalGenerator;

public sealed class GeneratorOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_modest()
    {
        var options = Resolve();

        Assert.True(options.Enabled);
        Assert.Equal(4, options.Streams);
        Assert.Equal(256, options.ChunkSize);
        Assert.Equal(2000, options.Rate);
        Assert.Equal(SampleFormat.Json, options.Format);
        Assert.Equal("sample-input", options.Topic);
        Assert.Equal("sensor-1", options.StreamId(0));
        Assert.Equal([SignalShape.Sine, SignalShape.Chirp, SignalShape.Ar2, SignalShape.Audio, SignalShape.Sine],
            Enumerable.Range(0, 5).Select(options.ShapeOf));
    }

    [Fact]
    public void Settings_bind_from_configuration_and_the_topic_falls_back_to_INPUT_TOPIC()
    {
        var options = Resolve(("Generator:Rate", "0"), ("Generator:Format", "float32"), ("Generator:Streams", "9"), ("INPUT_TOPIC", "my-input"));

        Assert.Equal(0, options.Rate);
        Assert.Equal(SampleFormat.Float32, options.Format);
        Assert.Equal(9, options.Streams);
        Assert.Equal("my-input", options.Topic);
    }

    [Theory]
    [InlineData("Generator:Streams", "0")]
    [InlineData("Generator:ChunkSize", "0")]
    [InlineData("Generator:ChunkSize", "1000000")]
    [InlineData("Generator:Rate", "-1")]
    [InlineData("Generator:SampleRate", "0")]
    [InlineData("Generator:Noise", "-0.1")]
    [InlineData("Generator:Noise", "1e39")]
    [InlineData("Generator:MaxChunks", "-5")]
    [InlineData("Generator:DeliveryStallSeconds", "0")]
    [InlineData("Generator:Shapes", "sine,square")]
    [InlineData("Generator:Shapes", "")]
    [InlineData("Generator:StreamPrefix", " ")]
    [InlineData("Generator:StreamPrefix", "a-prefix-of-exactly-two-hundred-and-fifty-six-bytes-so-that-sensor-1-would-not-fit-a-stream-id-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")]
    [InlineData("Generator:Topic", " ")]
    // The topic falls back to INPUT_TOPIC: a blank one is named (until 2026-12-06 the message named Generator:Topic alone, unset).
    [InlineData("INPUT_TOPIC", " ")]
    [InlineData("INPUT_TOPIC", "")]
    public void An_invalid_setting_fails_at_start_naming_it(string key, string value)
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve((key, value)));

        Assert.Contains(key, ex.Message);
    }

    /// <summary>
    /// The start failures docs/messages.md quotes ("The signal generator"), whole: the service's last line is
    /// <c>crit: the service stopped: </c> and <see cref="ServiceFailure.Describe"/> of the exception. The generated validator
    /// puts the member's name before an attribute's message (<c>Rate: Generator:Rate = -1 ...</c>, as the processor's
    /// <c>LingerMs: Processor:LingerMs = -1 ...</c>) and not before <see cref="GeneratorOptions.Validate"/>'s; refusals are
    /// joined by "; ". NaN is not a finite number.
    /// </summary>
    [Theory]
    [InlineData("Generator:ChunkSize=0", "Generator:ChunkSize = 0 is out of range [1, 65536] (the decoders' limit).")]
    [InlineData("Generator:Rate=-1", "Rate: Generator:Rate = -1 is out of range: a finite number >= 0.")]
    [InlineData("Generator:Rate=NaN", "Rate: Generator:Rate = NaN is out of range: a finite number >= 0.")]
    [InlineData("Generator:Noise=1e39", "Generator:Noise = 1E+39 is out of range [0, 1E+36]: larger noise makes samples beyond Float32's range.")]
    [InlineData("Generator:Rate=-1|Generator:ChunkSize=0",
        "Rate: Generator:Rate = -1 is out of range: a finite number >= 0.; Generator:ChunkSize = 0 is out of range [1, 65536] (the decoders' limit).")]
    public void An_invalid_setting_fails_at_start_with_the_message_the_doc_quotes(string settings, string message)
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve([.. settings.Split('|').Select(s => (s.Split('=')[0], s.Split('=')[1]))]));

        Assert.Equal(message, ServiceFailure.Describe(ex));
    }

    /// <summary>
    /// A chunk size within the decoders' limit whose records the producer would refuse (librdkafka's message.max.bytes,
    /// 1,000,000 by default): until 2026-12-06 it passed, and the worker's first produce threw after start. The size the
    /// message suggests is the largest that passes: one more sample is refused.
    /// </summary>
    [Theory]
    [InlineData("Json")]
    [InlineData("Float64")]
    public void A_chunk_size_whose_records_exceed_message_max_bytes_fails_at_start_naming_it_and_the_size_that_fits(string format)
    {
        // Float64 records pass at the decoders' limit with the default (65,536 x 8 bytes): set a lower limit through the Kafka settings.
        (string, string)[] kafka = format == "Json" ? [] : [("ConnectionStrings:kafka", "127.0.0.1:9"), ("Kafka:Producer:message.max.bytes", "100000")];
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve([("Generator:ChunkSize", "65536"), ("Generator:Format", format), .. kafka]));

        var limit = format == "Json" ? 1_000_000 : 100_000;
        Assert.StartsWith($"Generator:ChunkSize = 65536 makes {format} records of up to ", ex.Message);
        Assert.Contains($"more than the producer sends (message.max.bytes = {limit}, Kafka:Producer:message.max.bytes): use a ChunkSize of at most ", ex.Message);
        var fits = int.Parse(System.Text.RegularExpressions.Regex.Match(ex.Message, "at most (\\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(fits, 1, 65535);
        Assert.Equal(fits, Resolve([("Generator:ChunkSize", fits.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Generator:Format", format), .. kafka]).ChunkSize);
        Assert.Throws<OptionsValidationException>(() => Resolve([("Generator:ChunkSize", (fits + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Generator:Format", format), .. kafka]));
    }

    [Fact]
    public void An_unknown_format_fails_at_start_naming_the_setting()
    {
        var ex = Assert.ThrowsAny<InvalidOperationException>(() => Resolve(("Generator:Format", "xml")));

        Assert.Contains("Generator:Format", ex.Message);
    }

    private static GeneratorOptions Resolve(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)));
        if (builder.Configuration["ConnectionStrings:kafka"] is not null)
        {
            builder.AddKafkaClients();
        }

        builder.AddSignalGeneratorServices();
        using var host = builder.Build();

        // What ValidateOnStart does when the host starts, without starting the worker.
        host.Services.GetRequiredService<IStartupValidator>().Validate();

        return host.Services.GetRequiredService<IOptions<GeneratorOptions>>().Value;
    }
}
