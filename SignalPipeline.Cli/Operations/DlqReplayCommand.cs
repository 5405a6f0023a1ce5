using System.CommandLine;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// <c>signal-pipeline dlq replay</c>: sends dead letters back to the topic they came from, once. Each replayed record
/// and a marker naming its dead-letter offset are written in one transaction (the marker to the dead letter's own
/// partition), so a later replay skips what an earlier one sent, and a crash between the two cannot happen.
/// </summary>
public static class DlqReplayCommand
{
    /// <summary>On a replay marker (a dead-letter topic record with no value): the offset it replayed, <c>partition@offset</c>.</summary>
    public const string ReplayedHeader = "dlq-replayed";

    /// <summary>On a replayed record: where it was replayed from, <c>topic/partition@offset</c>.</summary>
    public const string ReplayedFromHeader = "dlq-replayed-from";

    public static Command Create()
    {
        var reasons = new Option<string[]>("--reason", "-r") { Description = "Only dead letters with this dlq-error-code, e.g. too-many-samples (repeatable)." };
        var stream = new Option<string?>("--stream", "-s") { Description = "Only dead letters of this stream (key)." };
        var dlq = new Option<string>("--dlq-topic")
        {
            Description = $"The dead-letter topic (default: {PipelineTopics.DeadLetterSetting}, else {PipelineTopics.DefaultDeadLetters}).",
            DefaultValueFactory = _ => KafkaConnection.TopicFromEnvironment(PipelineTopics.DeadLetters),
        };
        var to = new Option<string?>("--to") { Description = "Send to this topic instead of each record's dlq-source-topic." };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be replayed; send nothing." };
        var bootstrap = KafkaConnection.BootstrapOption();
        var replay = new Command("replay", "Send dead letters back to their source topic (after the cause is fixed), each only once.")
        {
            reasons, stream, dlq, to, dryRun, bootstrap,
        };
        VerbAction.Set(replay, async (parse, output, cancellationToken) =>
        {
            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            var request = new ReplayRequest(parse.GetValue(dlq)!, parse.GetValue(reasons) ?? [], parse.GetValue(stream), parse.GetValue(to), parse.GetValue(dryRun));
            return await Task.Run(() => new DeadLetterReplay(factory, request, output).Run(), cancellationToken);
        });
        return new Command("dlq", "The dead-letter topic.") { replay };
    }
}

public sealed record ReplayRequest(string DeadLetterTopic, IReadOnlyCollection<string> Reasons, string? Stream, string? To, bool DryRun);

/// <summary>Reads the dead-letter topic to its end, then replays the matching records not replayed before that have a value.</summary>
public sealed class DeadLetterReplay(KafkaClientFactory factory, ReplayRequest request, VerbOutput output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public int Run()
    {
        var (letters, replayed) = Scan();
        var skippedFilter = 0;
        var skippedBefore = 0;
        var withoutValue = 0;
        var chosen = new List<(ConsumeResult<byte[], byte[]> Letter, string Target)>();
        foreach (var letter in letters)
        {
            var decoded = new DecodedRecord(letter, null, null, null);
            if ((request.Reasons.Count > 0 && !request.Reasons.Contains(decoded.Header(MessageHeaders.DeadLetterErrorCode) ?? ""))
                || (request.Stream is { } stream && decoded.Key != stream))
            {
                skippedFilter++;
            }
            else if (replayed.Contains((letter.Partition.Value, letter.Offset.Value)))
            {
                skippedBefore++;
            }
            else if (letter.Message.Value is null)
            {
                // The processor leaves the value out when the letter would not fit one message (docs/messages.md): a
                // replay would send an empty record, and its marker would hide the letter from every later replay.
                withoutValue++;
                output.Error.WriteLine($"warning: {letter.Topic}/{letter.Partition.Value}@{letter.Offset.Value} key={(decoded.Key is { } key ? RecordFormatter.Printable(key) : "(none)")} " +
                    $"{RecordFormatter.Printable(decoded.Header(MessageHeaders.DeadLetterErrorCode))}: not replayed, it has no value (left out when a letter would not fit " +
                    $"one message; see its {MessageHeaders.DeadLetterReason}): send the data again with 'signal-pipeline produce'.");
            }
            else if ((request.To ?? decoded.Header(MessageHeaders.DeadLetterSourceTopic)) is { Length: > 0 } target)
            {
                chosen.Add((letter, target));
                output.Out.WriteLine($"{(request.DryRun ? "would replay" : "replay")} {letter.Topic}/{letter.Partition.Value}@{letter.Offset.Value}  " +
                    $"key={(decoded.Key is { } key ? RecordFormatter.Printable(key) : "(none)")}  " +
                    $"{RecordFormatter.Printable(decoded.Header(MessageHeaders.DeadLetterErrorCode))}  -> {RecordFormatter.Printable(target)}");
            }
            else
            {
                throw new UsageException($"{letter.Topic}/{letter.Partition.Value}@{letter.Offset.Value} has no {MessageHeaders.DeadLetterSourceTopic} header: pass --to TOPIC.");
            }
        }

        if (chosen.Count > 0 && !request.DryRun)
        {
            Send(chosen);
        }

        // A mistyped code matches nothing: say so, with the codes the topic has, instead of a silent "0 of N".
        var present = letters.Select(l => new DecodedRecord(l, null, null, null).Header(MessageHeaders.DeadLetterErrorCode) ?? "")
            .Where(c => c.Length > 0).ToHashSet(StringComparer.Ordinal);
        foreach (var reason in request.Reasons.Where(r => !present.Contains(r)))
        {
            output.Error.WriteLine($"warning: no dead letter in {request.DeadLetterTopic} has dlq-error-code '{reason}'" +
                (present.Count == 0 ? "." : $" (its codes: {string.Join(", ", present.Order(StringComparer.Ordinal).Select(RecordFormatter.Printable))})."));
        }

        output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(request.DryRun ? "Would replay" : "Replayed")} {chosen.Count} of {letters.Count} dead letters in {request.DeadLetterTopic} " +
            $"({skippedFilter} not matching --reason/--stream, {skippedBefore} replayed before{(withoutValue > 0 ? $", {withoutValue} without a value" : "")})."));
        return ExitCodes.Success;
    }

    /// <summary>The dead letters (records with <c>dlq-error-code</c>) and the offsets that markers say were replayed.</summary>
    private (List<ConsumeResult<byte[], byte[]>> Letters, HashSet<(int, long)> Replayed) Scan()
    {
        var partitions = KafkaConnection.TopicPartitions(factory, request.DeadLetterTopic, Timeout);
        using var consumer = factory.CreateConsumer<byte[], byte[]>($"signal-pipeline-cli-{Guid.NewGuid():N}", config =>
        {
            config.EnableAutoCommit = false;
            config.EnablePartitionEof = true;
            config.IsolationLevel = IsolationLevel.ReadCommitted;
        });
        var letters = new List<ConsumeResult<byte[], byte[]>>();
        var replayed = new HashSet<(int, long)>();
        var complete = PartitionScan.ToEnd(consumer, [.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning))], Timeout, record =>
        {
            var decoded = new DecodedRecord(record, null, null, null);
            if (decoded.Header(DlqReplayCommand.ReplayedHeader) is { } marker && ParseOffset(marker) is { } offset)
            {
                replayed.Add(offset);
            }
            else if (decoded.IsDeadLetter)
            {
                letters.Add(record);
            }

            return true;
        });
        return complete ? (letters, replayed) : throw new TimeoutException($"reading {request.DeadLetterTopic} took longer than {Timeout.TotalSeconds:0} s");
    }

    /// <summary>The records (original key, value and headers, without the dlq-* ones) and their markers, in one transaction.</summary>
    private void Send(List<(ConsumeResult<byte[], byte[]> Letter, string Target)> chosen)
    {
        using var producer = factory.CreateProducer<byte[], byte[]>(config =>
        {
            // One id for every replay: a second replay running at the same time fences the first instead of doubling it.
            config.TransactionalId = "signal-pipeline-dlq-replay";
            config.EnableIdempotence = true;
        });
        producer.InitTransactions(Timeout);
        producer.BeginTransaction();
        try
        {
            foreach (var (letter, target) in chosen)
            {
                var source = $"{letter.Partition.Value.ToString(CultureInfo.InvariantCulture)}@{letter.Offset.Value.ToString(CultureInfo.InvariantCulture)}";
                var headers = new Headers();
                foreach (var header in letter.Message.Headers ?? [])
                {
                    if (!header.Key.StartsWith("dlq-", StringComparison.Ordinal))
                    {
                        headers.Add(header.Key, header.GetValueBytes());
                    }
                }

                headers.Add(DlqReplayCommand.ReplayedFromHeader, Encoding.UTF8.GetBytes($"{letter.Topic}/{source}"));
                producer.Produce(target, new Message<byte[], byte[]> { Key = letter.Message.Key, Value = letter.Message.Value, Headers = headers });
                producer.Produce(letter.TopicPartition, new Message<byte[], byte[]>
                {
                    Key = letter.Message.Key,
                    Value = null!,
                    Headers = [new Header(DlqReplayCommand.ReplayedHeader, Encoding.UTF8.GetBytes(source))],
                });
            }

            producer.CommitTransaction(Timeout);
        }
        catch
        {
            producer.AbortTransaction(Timeout);
            throw;
        }
    }

    private static (int, long)? ParseOffset(string text)
    {
        var at = text.IndexOf('@', StringComparison.Ordinal);
        return at > 0 && int.TryParse(text[..at], NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
            && long.TryParse(text[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            ? (partition, offset)
            : null;
    }
}
