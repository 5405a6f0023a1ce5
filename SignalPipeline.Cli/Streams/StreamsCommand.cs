using System.CommandLine;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Filters;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Streams;

/// <summary>
/// <c>signal-pipeline streams</c>: each stream's own filter (docs/operations.md, "streams"). <c>configure</c> validates
/// an entry exactly as <c>/algorithms</c> describes it and writes it to the stream-config topic; <c>config</c> lists
/// the entries; <c>list</c> and <c>show</c> ask a processor instance what its streams' filters hold now.
/// </summary>
public static class StreamsCommand
{
    /// <summary>Give up reading the stream-config topic when the cluster answers nothing (no record, no partition end) for this long.</summary>
    internal static readonly TimeSpan DefaultNoProgress = TimeSpan.FromSeconds(30);

    public static Command Create() => Create(DefaultNoProgress);

    /// <summary>The verbs with another no-progress limit for <c>config</c>'s reading (tests make it short).</summary>
    internal static Command Create(TimeSpan noProgress)
    {
        var streams = new Command("streams", "Per-stream filters: configure them live, list the entries, see a stream's filter state.");
        streams.Subcommands.Add(Configure());
        streams.Subcommands.Add(ConfigList(noProgress));
        streams.Subcommands.Add(StreamsHttp.List());
        streams.Subcommands.Add(StreamsHttp.Show());
        return streams;
    }

    private static Option<string> TopicOption() => new("--topic")
    {
        Description = $"The stream-config topic (default: {PipelineTopics.StreamConfigSetting}, else {PipelineTopics.DefaultStreamConfig}).",
        DefaultValueFactory = _ => KafkaConnection.TopicFromEnvironment(PipelineTopics.StreamConfig),
    };

    private static Command Configure()
    {
        var id = new Argument<string>("id") { Description = "The stream id (the input records' key)." };
        var algorithm = new Option<string?>("--algorithm", "-a") { Description = FilterFactory.NamesOr + "." };
        var parameters = new Option<string[]>("--param", "-p") { Description = "name=value (repeatable); unset parameters take their defaults.", AllowMultipleArgumentsPerToken = false };
        var reset = new Option<bool>("--reset") { Description = "Remove the stream's entry: it returns to the deployment's default filter." };
        var topic = TopicOption();
        var bootstrap = KafkaConnection.BootstrapOption();
        var command = new Command("configure", "Set a stream's algorithm and parameters (takes effect at its next chunk).") { id, algorithm, parameters, reset, topic, bootstrap };
        VerbAction.Set(command, async (parse, output, cancellationToken) =>
        {
            var streamId = parse.GetValue(id)!;
            var value = Value(streamId, parse.GetValue(algorithm), parse.GetValue(parameters) ?? [], parse.GetValue(reset));
            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            using var producer = factory.CreateProducer<byte[], byte[]>();
            var name = parse.GetValue(topic)!;
            var sent = producer.ProduceAsync(name, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(streamId), Value = value?.ToJson()! }, cancellationToken);
            DeliveryResult<byte[], byte[]> result;
            try
            {
                result = await sent.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException(
                    $"the entry was not delivered to {name} on {factory.Settings.BootstrapServers} within 30 s (is that the cluster? Check --bootstrap or KAFKA_BROKERS).");
            }
            output.Out.WriteLine(value is null
                ? $"{streamId}: entry removed ({result.TopicPartitionOffset}); the stream returns to the default filter at its next chunk"
                : $"{streamId}: {value} ({result.TopicPartitionOffset}); takes effect at the stream's next chunk");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The entry to write (null: a tombstone), refused as bad input before anything is sent.</summary>
    public static StreamFilterConfig? Value(string streamId, string? algorithm, IReadOnlyList<string> parameters, bool reset)
    {
        // A stream id as the codec takes one (docs/messages.md): 1 to 256 bytes of valid UTF-8, blanks included. An entry
        // with any other key names no stream: the processor would ignore it with a warning.
        var maxBytes = SignalPipeline.Messages.DecodeLimits.Default.MaxStreamIdBytes;
        var bytes = StreamIdArgument.Utf8Bytes(streamId, "the stream id");
        if (bytes is 0 || bytes > maxBytes)
        {
            throw new UsageException($"the stream id must be 1 to {maxBytes} bytes of UTF-8, as a stream id; got {bytes}.");
        }

        if (reset)
        {
            return algorithm is null && parameters.Count == 0 ? null : throw new UsageException("--reset takes no --algorithm or --param.");
        }

        if (algorithm is null)
        {
            throw new UsageException($"--algorithm is required ({FilterFactory.NamesOr}), or --reset.");
        }

        var values = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        foreach (var parameter in parameters)
        {
            var parts = parameter.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0 || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number))
            {
                throw new UsageException($"--param '{parameter}' is not name=number.");
            }

            if (!values.TryAdd(parts[0], number))
            {
                throw new UsageException($"--param {parts[0]} is given twice (parameter names are case-insensitive).");
            }
        }

        try
        {
            return StreamFilterConfig.Create(algorithm, values);
        }
        catch (StreamConfigException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static Command ConfigList(TimeSpan noProgress)
    {
        var topic = TopicOption();
        var bootstrap = KafkaConnection.BootstrapOption();
        var command = new Command("config", "List the stream-config entries (the latest per stream; refused ones with their reason).") { topic, bootstrap };
        VerbAction.Set(command, async (parse, output, cancellationToken) =>
        {
            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            var name = parse.GetValue(topic)!;
            var (entries, ignored) = await Task.Run(() => Read(factory, name, noProgress, cancellationToken), cancellationToken);
            foreach (var (offset, problem) in ignored)
            {
                output.Error.WriteLine($"warning: the record at {offset} is ignored by the processor: {problem}, so it names no stream");
            }

            var table = new TextTable("STREAM", "ALGORITHM", "PARAMS", "OFFSET");
            foreach (var (streamId, (offset, value)) in entries.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                string algorithm, text;
                try
                {
                    var config = StreamFilterConfig.Parse(value);
                    (algorithm, text) = (config.Algorithm, string.Join(",", config.Parameters.Select(p => $"{p.Key}={p.Value.ToString("R", CultureInfo.InvariantCulture)}")));
                }
                catch (StreamConfigException e)
                {
                    (algorithm, text) = ("(refused)", e.Message);
                }

                // The key and a refusal's text (which may quote the value) come from the topic: escaped like kafka tail's.
                table.Add(RecordFormatter.Printable(streamId), algorithm, RecordFormatter.Printable(text), offset.ToString());
            }

            output.Out.Write(table.ToString());
            output.Out.WriteLine($"{Counted.Of(entries.Count, "entry", "entries")}; streams without one run the deployment's FILTER_ALGORITHM.");
            return ExitCodes.Success;
        }, ExitCodes.Interrupted);
        return command;
    }

    /// <summary>
    /// The latest value per stream (tombstones remove), read to the topic's current end, and the records whose key names
    /// no stream (the processor ignores them: <see cref="SampleCodec.TryReadStreamKey"/>). Gives up only when nothing
    /// comes for <paramref name="noProgress"/>, however long the whole reading takes; stops once <paramref name="cancellationToken"/>
    /// is cancelled (Ctrl+C).
    /// </summary>
    private static (Dictionary<string, (TopicPartitionOffset Offset, byte[] Value)> Entries, List<(TopicPartitionOffset Offset, string Problem)> Ignored) Read(
        KafkaClientFactory factory, string topic, TimeSpan noProgress, CancellationToken cancellationToken)
    {
        var partitions = KafkaConnection.TopicPartitions(factory, topic, noProgress);
        cancellationToken.ThrowIfCancellationRequested();
        using var consumer = factory.CreateConsumer<byte[], byte[]>($"signal-pipeline-streams-{Guid.NewGuid():N}", c =>
        {
            c.EnablePartitionEof = true;
            c.EnableAutoCommit = false;
        });
        var entries = new Dictionary<string, (TopicPartitionOffset, byte[])>(StringComparer.Ordinal);
        var ignored = new List<(TopicPartitionOffset, string)>();
        PartitionScan.ToEnds(consumer, [.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning))], null, noProgress, record =>
        {
            if (!SampleCodec.TryReadStreamKey(record.Message.Key, out var key, out var problem))
            {
                ignored.Add((record.TopicPartitionOffset, problem));
            }
            else if (record.Message.Value is null)
            {
                entries.Remove(key);
            }
            else
            {
                entries[key] = (record.TopicPartitionOffset, record.Message.Value);
            }

            return true;
        }, cancellationToken);
        return (entries, ignored);
    }
}
