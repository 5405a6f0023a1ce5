using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalGenerator;

/// <summary>
/// Refuses at start a <c>Generator:ChunkSize</c> whose records the producer could never send: librdkafka refuses a
/// record over its <c>message.max.bytes</c> (1,000,000 unless <c>Kafka:Producer</c> sets it) when it is produced, so
/// until 2026-12-06 a JSON chunk of 65,536 samples (about 1.6 MB) passed the checks and the worker's first produce
/// threw (<c>Broker: Message size too large</c>), stopping the service after start. The largest record is measured with
/// the codec itself: the longest stream id, the longest seq, every sample the longest a JSON number gets, a
/// <c>traceparent</c>, and librdkafka's framing of a record.
/// </summary>
public sealed class GeneratorRecordSizeCheck(IServiceProvider services) : IValidateOptions<GeneratorOptions>
{
    /// <summary>librdkafka's default <c>message.max.bytes</c>.</summary>
    public const int DefaultMessageMaxBytes = 1_000_000;

    // librdkafka compares message.max.bytes with the record's wire size: key, value and headers plus the record's own
    // framing (length, attributes, timestamp and offset deltas, and each length as a varint: under 64 bytes with our
    // two headers). Counted generously, so a chunk size it allows is never refused.
    private const int RecordFramingBytes = 128;

    // 17 significant digits and a three-digit exponent: no double is written longer (the codec's shortest round trip).
    private const double LongestJsonSample = -2.2250738585072014E-308;

    public ValidateOptionsResult Validate(string? name, GeneratorOptions options)
    {
        // Out-of-range sizes and unknown formats are the other validator's to name.
        if (options.ChunkSize < 1 || options.ChunkSize > DecodeLimits.Default.MaxSamples || !Enum.IsDefined(options.Format)
            || options.Streams < 1 || string.IsNullOrEmpty(options.StreamPrefix) || !(options.SampleRate > 0)
            || System.Text.Encoding.UTF8.GetByteCount(options.StreamId(options.Streams - 1)) > DecodeLimits.Default.MaxStreamIdBytes)
        {
            return ValidateOptionsResult.Skip;
        }

        var limit = MessageMaxBytes();
        var largest = RecordBytes(options, options.ChunkSize);
        if (largest <= limit)
        {
            return ValidateOptionsResult.Success;
        }

        // Records grow by the same bytes per sample: the largest chunk that fits, from two sizes.
        var perSample = RecordBytes(options, 2) - RecordBytes(options, 1);
        var fits = Math.Max(0, (limit - (RecordBytes(options, 1) - perSample)) / perSample);
        var formats = options.Format == SampleFormat.Json ? ", or Generator:Format Float64 or Float32" : "";
        return ValidateOptionsResult.Fail(
            $"Generator:ChunkSize = {options.ChunkSize} makes {options.Format} records of up to {largest} bytes, more than the producer "
            + $"sends (message.max.bytes = {limit}, {KafkaSettings.ProducerSection}:message.max.bytes): use a ChunkSize of at most {fits}{formats}.");
    }

    private int MessageMaxBytes()
    {
        try
        {
            return services.GetService<KafkaClientFactory>()?.CreateProducerConfig().MessageMaxBytes ?? DefaultMessageMaxBytes;
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            // A value that is no number: the Kafka settings check names it.
            return DefaultMessageMaxBytes;
        }
    }

    private static long RecordBytes(GeneratorOptions options, int samples)
    {
        var message = LargestRecord(options, samples);
        return RecordFramingBytes + message.Key.Length + message.Value.Length
            + message.Headers.Sum(h => (long)System.Text.Encoding.UTF8.GetByteCount(h.Key) + h.GetValueBytes().Length);
    }

    /// <summary>The largest record a chunk of <paramref name="samples"/> samples can make with these settings.</summary>
    public static Message<byte[], byte[]> LargestRecord(GeneratorOptions options, int samples)
    {
        var signal = new double[samples];
        Array.Fill(signal, options.Format == SampleFormat.Json ? LongestJsonSample : 0);
        var chunk = new SampleChunk(options.StreamId(options.Streams - 1), long.MaxValue, signal, options.SampleRate, long.MaxValue)
        {
            Format = options.Format,
        };
        var message = SampleCodec.ToMessage(chunk);
        KafkaTracing.InjectTraceContext(message.Headers,
            new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded));
        return message;
    }
}
