using System.CommandLine;
using System.Globalization;
using Confluent.Kafka;
using SignalPipeline.Cli.Audio;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// <c>signal-pipeline kafka tail [TOPIC]</c>: kafka-console-consumer / kcat -C for the pipeline's topics, decoding JSON
/// and binary chunks readably, dead letters with their reason; or one stream's filtered signal into a WAV file.
/// </summary>
public static class TailCommand
{
    /// <summary>
    /// Give up the <c>--wav</c> sample-rate look-up, and a tail with <c>-e</c>, when the cluster answers nothing (no record,
    /// no partition end) for this long.
    /// </summary>
    internal static readonly TimeSpan DefaultLookUpNoProgress = TimeSpan.FromSeconds(30);

    public static Command Create() => Create(DefaultLookUpNoProgress);

    /// <summary>The verb with another no-progress limit for the sample-rate look-up and <c>-e</c> (tests make it short).</summary>
    internal static Command Create(TimeSpan lookUpNoProgress)
    {
        var topic = new Argument<string>("topic")
        {
            Description = $"Topic to read (default: {PipelineTopics.OutputSetting}, else {PipelineTopics.DefaultOutput}).",
            DefaultValueFactory = _ => KafkaConnection.TopicFromEnvironment(PipelineTopics.Output),
        };
        var stream = new Option<string?>("--stream", "-s") { Description = "Only records of this stream (key)." };
        var fromBeginning = new Option<bool>("--from-beginning") { Description = "Start at the oldest record kept (default: only new records)." };
        var count = new Option<int?>("--count", "-n") { Description = "Stop after this many records (with --wav: chunks written); exit 1 if --timeout comes first." };
        var exitAtEnd = new Option<bool>("--exit-at-end", "-e") { Description = "Stop once every partition's end is reached (kcat -e)." };
        var timeout = new Option<double?>("--timeout") { Description = "Stop after this many seconds." };
        var idle = new Option<double?>("--idle") { Description = "Stop once no new record came for this many seconds after the first one (the stream is done)." };
        var samples = new Option<int>("--samples") { Description = "Samples shown per record.", DefaultValueFactory = _ => 6 };
        var wav = new Option<string?>("--wav") { Description = "Write the stream's filtered signal (in seq order, duplicates skipped) to this WAV file; needs --stream." };
        var wavFormat = new Option<string>("--wav-format") { Description = "float32 (lossless for f32 chunks) or pcm16 (clipped to [-1, 1)).", DefaultValueFactory = _ => "float32" };
        wavFormat.AcceptOnlyFromAmong("float32", "pcm16");
        var sampleRate = new Option<int?>("--sample-rate") { Description = "WAV sample rate in Hz (default: the stream's sample_rate, looked up on the input topic)." };
        var inputTopic = new Option<string>("--input-topic")
        {
            Description = "Where to look up the stream's sample rate for --wav.",
            DefaultValueFactory = _ => KafkaConnection.TopicFromEnvironment(PipelineTopics.Input),
        };
        var bootstrap = KafkaConnection.BootstrapOption();

        var command = new Command("tail", "Print a topic's records decoded (chunks, dead letters with their reason), or write a stream's filtered signal to a WAV file.")
        {
            topic, stream, fromBeginning, count, exitAtEnd, timeout, idle, samples, wav, wavFormat, sampleRate, inputTopic, bootstrap,
        };
        VerbAction.Set(command, async (parse, output, cancellationToken) =>
        {
            var request = new TailRequest(parse.GetValue(topic)!, parse.GetValue(stream), parse.GetValue(fromBeginning), parse.GetValue(count),
                parse.GetValue(exitAtEnd), TailRequest.Seconds(parse.GetValue(timeout), "--timeout"), parse.GetValue(samples))
            {
                Idle = TailRequest.Seconds(parse.GetValue(idle), "--idle"),
            };
            request.Validate();
            var wavPath = parse.GetValue(wav);
            if (wavPath is not null && request.Stream is null)
            {
                throw new UsageException("--wav needs --stream: a WAV file holds one stream.");
            }

            if (parse.GetValue(sampleRate) is <= 0)
            {
                throw new UsageException($"--sample-rate must be a positive number of Hz, was {parse.GetValue(sampleRate)}.");
            }

            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            using var sink = wavPath is null ? null : new WavStreamSink(wavPath, WavStreamSink.ParseFormat(parse.GetValue(wavFormat)!),
                chunk => parse.GetValue(sampleRate) ?? LookUpRate(factory, parse.GetValue(inputTopic)!, chunk, wavPath, lookUpNoProgress));
            var result = await Task.Run(() => new TopicTail(factory, request, output, sink, lookUpNoProgress).Run(cancellationToken), CancellationToken.None);
            if (sink is { ChunksWritten: 0 })
            {
                output.Error.WriteLine($"No chunk of '{request.Stream}' was read: {wavPath} not written.");
            }
            else if (sink is not null)
            {
                output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Wrote {Counted.Of(sink.SamplesWritten, "sample")} ({Counted.Of(sink.ChunksWritten, "chunk")}) of '{request.Stream}' to {wavPath} at {sink.SampleRate} Hz; " +
                    $"{Counted.Of(sink.Duplicates, "duplicate chunk")} skipped, {Counted.Of(sink.MissingSeqs, "seq")} missing."));
            }

            return result;
        });
        return command;
    }

    private static int LookUpRate(KafkaClientFactory factory, string inputTopic, Messages.FilteredChunk chunk, string wavPath, TimeSpan noProgress)
    {
        var rate = InputSampleRate.Find(factory, inputTopic, chunk.StreamId, chunk.TimestampMs, noProgress);
        return rate is { } hz && hz >= 1 && hz <= int.MaxValue
            ? (int)Math.Round(hz)
            : throw new UsageException($"no sample_rate for '{chunk.StreamId}' on {inputTopic} near its seq {chunk.Seq}: pass --sample-rate to write {wavPath}.");
    }
}

/// <summary>What to read and when to stop.</summary>
public sealed record TailRequest(string Topic, string? Stream, bool FromBeginning, int? Count, bool ExitAtEnd, TimeSpan? Timeout, int SamplesShown)
{
    /// <summary>Stop once nothing new came for this long after the first record shown.</summary>
    public TimeSpan? Idle { get; init; }

    /// <summary>The most seconds <c>--timeout</c> and <c>--idle</c> take (about 31 years): any longer is no limit, and a
    /// deadline that far would not fit a <see cref="DateTime"/>.</summary>
    public const double MaxSeconds = 1e9;

    /// <summary>
    /// <paramref name="value"/> seconds of <paramref name="option"/> as a time span; NaN, infinity, 0, a negative or a
    /// value above <see cref="MaxSeconds"/> is bad input naming the option (<see cref="TimeSpan.FromSeconds(double)"/>
    /// would throw, or the deadline overflow).
    /// </summary>
    public static TimeSpan? Seconds(double? value, string option) => value switch
    {
        null => null,
        > 0 and <= MaxSeconds => TimeSpan.FromSeconds(value.Value),
        _ => throw new UsageException(string.Create(CultureInfo.InvariantCulture,
            $"{option} must be a positive number of seconds (at most {MaxSeconds:0}), was {value.Value}.")),
    };

    public void Validate()
    {
        if (Count is <= 0)
        {
            throw new UsageException($"--count must be 1 or more, was {Count}.");
        }

        if (SamplesShown < 0)
        {
            throw new UsageException($"--samples must be 0 or more, was {SamplesShown}.");
        }
    }
}

/// <summary>
/// The consume loop of <c>kafka tail</c>: every partition assigned (no group, nothing committed), read_committed. With
/// <c>-e</c> it gives up, as <see cref="PartitionScan.ToEnds"/> does, when <paramref name="noProgress"/> passes with
/// neither a record nor a partition end (the cluster went away midway; a tail that follows waits for it, as kcat does).
/// </summary>
public sealed class TopicTail(KafkaClientFactory factory, TailRequest request, VerbOutput output, WavStreamSink? sink, TimeSpan noProgress)
{
    public int Run(CancellationToken cancellationToken)
    {
        var partitions = KafkaConnection.TopicPartitions(factory, request.Topic, TimeSpan.FromSeconds(30));
        using var consumer = factory.CreateConsumer<byte[], byte[]>($"signal-pipeline-tail-{Guid.NewGuid():N}", config =>
        {
            config.EnableAutoCommit = false;
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            config.EnablePartitionEof = request.ExitAtEnd;
        });
        var start = request.FromBeginning ? Offset.Beginning : Offset.End;
        consumer.Assign(partitions.Select(p => new TopicPartitionOffset(p, start)));
        var atEnd = new HashSet<int>();
        var deadline = request.Timeout is { } timeout ? DateTime.UtcNow + timeout : DateTime.MaxValue;
        var shown = 0;
        var lastShown = DateTime.MaxValue;
        var quiet = System.Diagnostics.Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested)
        {
            if (DateTime.UtcNow >= deadline)
            {
                return Stopped($"timed out after {request.Timeout!.Value.TotalSeconds:0.#} s", shown);
            }

            if (request.Idle is { } idle && DateTime.UtcNow - lastShown >= idle)
            {
                return Stopped($"nothing new for {idle.TotalSeconds:0.#} s", shown);
            }

            var record = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (record is null)
            {
                if (request.ExitAtEnd && quiet.Elapsed > noProgress)
                {
                    throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                        $"reading {request.Topic} made no progress for {noProgress.TotalSeconds:0.###} s: no record and no partition end came " +
                        $"(partitions not read to their end: {string.Join(", ", partitions.Select(p => p.Partition.Value).Where(p => !atEnd.Contains(p)))}; {Counted.Of(shown, "record")} shown)."));
                }

                continue;
            }

            quiet.Restart();

            if (record.IsPartitionEOF)
            {
                atEnd.Add(record.Partition.Value);
                if (atEnd.Count == partitions.Count)
                {
                    return Stopped("end of every partition", shown);
                }

                continue;
            }

            atEnd.Remove(record.Partition.Value);
            var decoded = DecodedRecord.Decode(record);
            if (request.Stream is { } stream && decoded.StreamId != stream)
            {
                continue;
            }

            if (sink is not null)
            {
                if (decoded.Filtered is not { } chunk || !sink.Add(chunk))
                {
                    continue;
                }
            }
            else
            {
                output.Out.WriteLine(RecordFormatter.Format(decoded, request.SamplesShown));
            }

            quiet.Restart(); // the time spent on a record (the --wav sample-rate look-up) is not the cluster's silence
            lastShown = DateTime.UtcNow;
            if (++shown == request.Count)
            {
                return ExitCodes.Success;
            }
        }

        return Stopped("interrupted", shown);
    }

    private int Stopped(string why, int shown)
    {
        if (request.Count is { } count)
        {
            output.Error.WriteLine($"{why}: {shown} of {Counted.Of(count, "record")}.");
            return ExitCodes.Failure;
        }

        output.Error.WriteLine($"{why}: {Counted.Of(shown, "record")}.");
        return ExitCodes.Success;
    }
}
