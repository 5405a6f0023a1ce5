using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SignalPipeline.Cli.Audio;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// <c>signal-pipeline produce</c>: one stream from a text file, stdin or a WAV file, chunked with seq from 0 and
/// key = stream id, as the processor expects (docs/messages.md).
/// </summary>
public static class ProduceCommand
{
    public static Command Create()
    {
        var stream = new Option<string>("--stream", "-s") { Description = "The stream id (also the Kafka key).", Required = true };
        var file = new Option<string?>("--file", "-f") { Description = "Text file of samples: one number per line, or CSV (see --column); '-' or neither --file nor --wav: stdin." };
        var wav = new Option<string?>("--wav") { Description = "WAV file (PCM 8/16/24/32-bit or float); its sample rate goes into every chunk." };
        var channel = new Option<int?>("--channel") { Description = "WAV channel to send, 0-based (required for a file of more than one channel)." };
        var column = new Option<string?>("--column") { Description = "CSV column holding the samples: a 0-based index or a header name (default 0)." };
        var topic = new Option<string>("--topic", "-t")
        {
            Description = $"Topic to produce to (default: {PipelineTopics.InputSetting}, else {PipelineTopics.DefaultInput}).",
            DefaultValueFactory = _ => KafkaConnection.TopicFromEnvironment(PipelineTopics.Input),
        };
        var chunkSize = new Option<int>("--chunk-size") { Description = "Samples per record, 1..65536.", DefaultValueFactory = _ => 256 };
        var format = new Option<string>("--format")
        {
            Description = "Record form: json, f64 (binary float64) or f32 (binary float32; lossless for WAV input of up to 32 bits).",
            DefaultValueFactory = _ => "json",
        };
        format.AcceptOnlyFromAmong("json", "f64", "f32");
        var rate = new Option<double>("--rate") { Description = "Samples per second to send at; 0 = as fast as the broker takes them.", DefaultValueFactory = _ => 0 };
        var sampleRate = new Option<double?>("--sample-rate") { Description = "The signal's sample rate in Hz, written as sample_rate (text input; a WAV file carries its own)." };
        var startSeq = new Option<long>("--start-seq") { Description = "Seq of the first chunk (0 for a new stream; the next seq to continue one).", DefaultValueFactory = _ => 0 };
        var bootstrap = KafkaConnection.BootstrapOption();

        var command = new Command("produce", "Send a signal to the pipeline's input as one stream: chunked, seq from 0, key = stream id.")
        {
            stream, file, wav, channel, column, topic, chunkSize, format, rate, sampleRate, startSeq, bootstrap,
        };
        VerbAction.Set(command, async (parse, output, cancellationToken) =>
        {
            var request = new ProduceRequest(
                parse.GetValue(stream)!, parse.GetValue(topic)!, parse.GetValue(chunkSize), ParseFormat(parse.GetValue(format)!),
                parse.GetValue(rate), parse.GetValue(startSeq));
            request.Validate();
            var signal = OpenSignal(parse.GetValue(file), parse.GetValue(wav), parse.GetValue(channel), parse.GetValue(column), parse.GetValue(sampleRate), output);
            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            return await Task.Run(() => new ChunkProducer(factory, request, output).Run(signal, cancellationToken), cancellationToken);
        });
        return command;
    }

    public static SampleFormat ParseFormat(string text) => text switch
    {
        "json" => SampleFormat.Json,
        "f64" => SampleFormat.Float64,
        "f32" => SampleFormat.Float32,
        _ => throw new UsageException($"--format '{text}' is not json, f64 or f32."),
    };

    private static SignalSource OpenSignal(string? file, string? wav, int? channel, string? column, double? sampleRate, VerbOutput output)
    {
        if (sampleRate is { } hz && !(double.IsFinite(hz) && hz > 0))
        {
            throw new UsageException($"--sample-rate must be a positive number of Hz, was {hz.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (wav is not null)
        {
            if (file is not null)
            {
                throw new UsageException("give --file or --wav, not both.");
            }

            if (sampleRate is not null)
            {
                throw new UsageException("--sample-rate is for text input; a WAV file's own rate is sent.");
            }

            var audio = WavSignal.Read(wav, channel);
            output.Error.WriteLine($"{wav}: {audio.Encoding}, {Counted.Of(audio.Channels, "channel")}, {audio.SampleRate} Hz, {Counted.Of(audio.SampleCount, "sample")}" +
                (audio.Channels > 1 ? $", sending channel {channel}" : string.Empty));
            return new SignalSource(audio.Samples, audio.SampleRate, wav);
        }

        if (channel is not null)
        {
            throw new UsageException("--channel is for --wav input.");
        }

        return new SignalSource(SignalTextReader.ReadFile(file, column), sampleRate, file is null or "-" ? "stdin" : file);
    }
}

/// <summary>What to send: the samples (read from the file as they are sent), their rate, and where they came from (for messages).</summary>
public sealed record SignalSource(IEnumerable<double> Samples, double? SampleRate, string Name);

/// <summary>Where and how to send a stream.</summary>
public sealed record ProduceRequest(string StreamId, string Topic, int ChunkSize, SampleFormat Format, double Rate, long StartSeq)
{
    /// <summary>The slowest <c>--rate</c>, one sample in about 17 minutes; slower rates overflow the pacing's time span.</summary>
    public const double MinRate = 0.001;

    public void Validate()
    {
        var maxIdBytes = new DecodeLimits().MaxStreamIdBytes;
        var idBytes = StreamIdArgument.Utf8Bytes(StreamId, "--stream");
        if (idBytes is 0 || idBytes > maxIdBytes)
        {
            throw new UsageException($"--stream must be 1 to {maxIdBytes} UTF-8 bytes.");
        }

        if (ChunkSize is < 1 or > 65_536)
        {
            throw new UsageException($"--chunk-size must be between 1 and 65536, was {ChunkSize}.");
        }

        if (!(Rate == 0 || (double.IsFinite(Rate) && Rate >= MinRate)))
        {
            throw new UsageException($"--rate must be 0 (flat out) or at least {MinRate.ToString(CultureInfo.InvariantCulture)} samples/s, was {Rate.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (StartSeq < 0)
        {
            throw new UsageException($"--start-seq must be 0 or more, was {StartSeq}.");
        }

        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new UsageException("--topic must not be empty.");
        }
    }
}
