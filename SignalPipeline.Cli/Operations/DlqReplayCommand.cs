using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// <c>signal-pipeline dlq replay</c>: sends dead letters back to the topic they came from, once. Each replayed record
/// and a marker naming its dead-letter offset are written in the same transaction (the marker to the dead letter's own
/// partition), so a later replay skips what an earlier one sent, and a crash between the two cannot happen. Letters go
/// in transactions of bounded size (<see cref="ReplayLimits"/>), so a replay that fails midway leaves the letters of its
/// committed transactions replayed and marked and the rest untouched: running it again replays exactly the rest.
/// </summary>
public static class DlqReplayCommand
{
    /// <summary>On a replay marker (a dead-letter topic record with no value): the offset it replayed, <c>partition@offset</c>.</summary>
    public const string ReplayedHeader = "dlq-replayed";

    /// <summary>On a replayed record: where it was replayed from, <c>topic/partition@offset</c>.</summary>
    public const string ReplayedFromHeader = "dlq-replayed-from";

    /// <summary>One id for every replay: a second replay running at the same time fences the first instead of doubling it.</summary>
    public const string TransactionalId = "signal-pipeline-dlq-replay";

    public static Command Create() => Create(ReplayLimits.Default);

    /// <summary>The verb with other limits (tests make transactions small and the no-progress limit short).</summary>
    internal static Command Create(ReplayLimits limits)
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
            // Not Task.Run's token: a signal before the replay starts must reach Run, which says where it stopped.
            return await Task.Run(() => new DeadLetterReplay(factory, request, output) { Limits = limits }.Run(cancellationToken), CancellationToken.None);
        }, ExitCodes.Interrupted);
        return new Command("dlq", "The dead-letter topic.") { replay };
    }
}

public sealed record ReplayRequest(string DeadLetterTopic, IReadOnlyCollection<string> Reasons, string? Stream, string? To, bool DryRun);

/// <summary>How much one replay transaction carries and how long a cluster that stops answering is waited for.</summary>
/// <param name="TransactionLetters">Letters (each a record and its marker) in one transaction at the most.</param>
/// <param name="TransactionBytes">Key and value bytes of the letters in one transaction at the most (a larger letter goes alone).</param>
/// <param name="NoProgress">Give up when the cluster answers nothing for this long (no record, no partition end, no delivery).</param>
internal sealed record ReplayLimits(int TransactionLetters, long TransactionBytes, TimeSpan NoProgress)
{
    /// <summary>
    /// 1,000 letters or 16 MiB: far inside librdkafka's local queue (100,000 messages, 1 GiB) and a transaction that a
    /// cluster writes in well under <c>transaction.timeout.ms</c> (60 s), while a commit per thousand letters costs little.
    /// </summary>
    public const int DefaultTransactionLetters = 1_000;

    /// <inheritdoc cref="DefaultTransactionLetters"/>
    public const long DefaultTransactionBytes = 16L * 1024 * 1024;

    public static readonly ReplayLimits Default = new(DefaultTransactionLetters, DefaultTransactionBytes, TimeSpan.FromSeconds(60));

    /// <summary>Told the letters replayed so far after each committed transaction (tests fail the next one from here).</summary>
    public Action<int>? AfterCommit { get; init; }
}

/// <summary>
/// Replays the matching dead letters not replayed before that have a value, in two readings of the dead-letter topic, so
/// that memory does not grow with the topic: a marker comes after its letter, so the first reading collects only the
/// markers' offsets (and the codes present) up to the topic's end now; the second reads again up to that same end and
/// streams the chosen letters out, a bounded transaction at a time.
/// </summary>
public sealed class DeadLetterReplay(KafkaClientFactory factory, ReplayRequest request, VerbOutput output)
{
    internal ReplayLimits Limits { get; init; } = ReplayLimits.Default;

    /// <summary>
    /// Replays, or lists with <see cref="ReplayRequest.DryRun"/>. Once <paramref name="cancellationToken"/> is cancelled
    /// (Ctrl+C) it stops at the next poll or delivery wait, aborts the transaction it was sending, says how many letters
    /// were replayed (committed) and returns <see cref="ExitCodes.Interrupted"/>.
    /// </summary>
    public int Run(CancellationToken cancellationToken = default)
    {
        var partitions = KafkaConnection.TopicPartitions(factory, request.DeadLetterTopic, Limits.NoProgress);
        var tally = new ReplayTally();
        var batch = new List<ChosenLetter>();
        long batchBytes = 0;
        MarkedLetters marked;
        try
        {
            // Everything after the topic's look-up is inside, the first reading too: Ctrl+C anywhere from there is the same
            // "interrupted: ..." line and exit 130 (until 2026-12-05 a bare "interrupted" before and in the first reading,
            // and a dry run's never said its listing was incomplete).
            cancellationToken.ThrowIfCancellationRequested();
            // Taking over the transactional id before reading fences a replay still running (a cluster aborts its open
            // transaction and refuses its next), so the reading sees every marker that replay committed.
            using var transactions = request.DryRun ? null : new ReplayTransactions(factory, Limits);
            cancellationToken.ThrowIfCancellationRequested();
            using var consumer = factory.CreateConsumer<byte[], byte[]>($"signal-pipeline-cli-{Guid.NewGuid():N}", config =>
            {
                config.EnableAutoCommit = false;
                config.EnablePartitionEof = true;
                config.IsolationLevel = IsolationLevel.ReadCommitted;
            });
            var starts = partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning)).ToList();
            marked = ReadMarkers(consumer, starts, cancellationToken);
            PartitionScan.ToEnds(consumer, starts, marked.Ends, Limits.NoProgress, record =>
            {
                if (Choose(record, marked.Replayed, tally) is not { } chosen)
                {
                    return true;
                }

                if (transactions is null)
                {
                    output.Out.WriteLine($"would {chosen.Line}");
                    return true;
                }

                // A letter that would take the transaction past its bytes goes in the next one (alone, when it is
                // larger than the limit by itself), so no transaction holds more than the limit but for a single letter.
                var bytes = (chosen.Letter.Message.Key?.Length ?? 0) + chosen.Letter.Message.Value.Length;
                if (batch.Count > 0 && batchBytes + bytes > Limits.TransactionBytes)
                {
                    Commit(transactions, batch, tally, cancellationToken);
                    batchBytes = 0;
                }

                batch.Add(chosen);
                batchBytes += bytes;
                if (batch.Count >= Limits.TransactionLetters || batchBytes >= Limits.TransactionBytes)
                {
                    Commit(transactions, batch, tally, cancellationToken);
                    batchBytes = 0;
                }

                return true;
            }, cancellationToken);
            if (transactions is not null && batch.Count > 0)
            {
                Commit(transactions, batch, tally, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The stdout listing names exactly the committed letters; this line says where the replay stopped.
            var unsent = batch.Count > 0
                ? string.Create(CultureInfo.InvariantCulture, $"; {batch.Count} more {Counted.Was(batch.Count)} chosen but not committed, so {(batch.Count == 1 ? "it was not" : "none of them was")} replayed")
                : "";
            output.Error.WriteLine(request.DryRun
                ? "interrupted: the listing above is incomplete; nothing was sent."
                : string.Create(CultureInfo.InvariantCulture,
                    $"interrupted: {Counted.Of(tally.Sent, "dead letter")} {Counted.Was(tally.Sent)} replayed and marked (the 'replay' lines){unsent}; the same command again replays the rest."));
            return ExitCodes.Interrupted;
        }
        catch (Exception) when (tally.Sent > 0)
        {
            output.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Counted.Of(tally.Sent, "dead letter")} {Counted.Was(tally.Sent)} replayed and marked before the error below (the 'replay' lines); the same command again replays the rest."));
            throw;
        }

        // A mistyped code matches nothing: say so, with the codes the topic has, instead of a silent "0 of N".
        foreach (var reason in request.Reasons.Where(r => !marked.Codes.Contains(r)))
        {
            output.Error.WriteLine($"warning: no dead letter in {request.DeadLetterTopic} has dlq-error-code '{reason}'" +
                (marked.Codes.Count == 0 ? "." : $" (its codes: {string.Join(", ", marked.Codes.Order(StringComparer.Ordinal).Select(RecordFormatter.Printable))})."));
        }

        output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(request.DryRun ? "Would replay" : "Replayed")} {tally.Chosen} of {Counted.Of(tally.Letters, "dead letter")} in {request.DeadLetterTopic} " +
            $"({tally.NotMatching} not matching --reason/--stream, {tally.ReplayedBefore} replayed before{(tally.WithoutValue > 0 ? $", {tally.WithoutValue} without a value" : "")})."));
        return ExitCodes.Success;
    }

    /// <summary>
    /// The first reading: the offsets replay markers name, the codes present and each partition's end. A letter with no
    /// source topic that would be chosen fails the replay here, before anything is sent.
    /// </summary>
    private MarkedLetters ReadMarkers(IConsumer<byte[], byte[]> consumer, IReadOnlyCollection<TopicPartitionOffset> starts, CancellationToken cancellationToken)
    {
        var replayed = new MarkerOffsets();
        var codes = new HashSet<string>(StringComparer.Ordinal);
        var withoutTarget = new List<(int Partition, long Offset)>();
        var ends = PartitionScan.ToEnds(consumer, starts, null, Limits.NoProgress, record =>
        {
            var decoded = new DecodedRecord(record, null, null, null);
            if (MarkedOffset(decoded) is { } offset)
            {
                replayed.Add(offset.Partition, offset.Offset);
            }
            else if (decoded.Header(MessageHeaders.DeadLetterErrorCode) is { } code)
            {
                if (code.Length > 0)
                {
                    codes.Add(code);
                }

                if (Matches(decoded) && record.Message.Value is not null && Target(decoded) is null)
                {
                    withoutTarget.Add((record.Partition.Value, record.Offset.Value));
                }
            }

            return true;
        }, cancellationToken);
        foreach (var (partition, offset) in withoutTarget.Where(l => !replayed.Contains(l.Partition, l.Offset)).Take(1))
        {
            throw new UsageException($"{request.DeadLetterTopic}/{partition}@{offset} has no {MessageHeaders.DeadLetterSourceTopic} header: pass --to TOPIC.");
        }

        return new MarkedLetters(ends, replayed, codes);
    }

    /// <summary>The second reading's verdict on one record: counted in <paramref name="tally"/>, and returned when it is to be replayed.</summary>
    private ChosenLetter? Choose(ConsumeResult<byte[], byte[]> letter, MarkerOffsets replayed, ReplayTally tally)
    {
        var decoded = new DecodedRecord(letter, null, null, null);
        if (MarkedOffset(decoded) is not null || !decoded.IsDeadLetter)
        {
            return null;
        }

        tally.Letters++;
        var key = decoded.Key is { } k ? RecordFormatter.Printable(k) : "(none)";
        var code = RecordFormatter.Printable(decoded.Header(MessageHeaders.DeadLetterErrorCode));
        if (!Matches(decoded))
        {
            tally.NotMatching++;
        }
        else if (replayed.Contains(letter.Partition.Value, letter.Offset.Value))
        {
            tally.ReplayedBefore++;
        }
        else if (letter.Message.Value is null)
        {
            // The processor leaves the value out when the letter would not fit one message (docs/messages.md): a
            // replay would send an empty record, and its marker would hide the letter from every later replay.
            tally.WithoutValue++;
            output.Error.WriteLine($"warning: {letter.Topic}/{letter.Partition.Value}@{letter.Offset.Value} key={key} " +
                $"{code}: not replayed, it has no value (left out when a letter would not fit " +
                $"one message; see its {MessageHeaders.DeadLetterReason}): send the data again with 'signal-pipeline produce'.");
        }
        else if (Target(decoded) is { } target)
        {
            tally.Chosen++;
            return new ChosenLetter(letter, target, $"replay {letter.Topic}/{letter.Partition.Value}@{letter.Offset.Value}  key={key}  {code}  -> {RecordFormatter.Printable(target)}");
        }
        else
        {
            // The first reading refuses these; one here was written after it, which the second reading does not reach.
            throw new UsageException($"{letter.Topic}/{letter.Partition.Value}@{letter.Offset.Value} has no {MessageHeaders.DeadLetterSourceTopic} header: pass --to TOPIC.");
        }

        return null;
    }

    private bool Matches(DecodedRecord letter)
        => (request.Reasons.Count == 0 || request.Reasons.Contains(letter.Header(MessageHeaders.DeadLetterErrorCode) ?? ""))
            && (request.Stream is not { } stream || letter.Key == stream);

    private string? Target(DecodedRecord letter)
        => (request.To ?? letter.Header(MessageHeaders.DeadLetterSourceTopic)) is { Length: > 0 } target ? target : null;

    /// <summary>Sends <paramref name="batch"/> in one transaction, then lists it (so the listing names only what was committed) and empties it.</summary>
    private void Commit(ReplayTransactions transactions, List<ChosenLetter> batch, ReplayTally tally, CancellationToken cancellationToken)
    {
        transactions.Send(batch, cancellationToken);
        foreach (var chosen in batch)
        {
            output.Out.WriteLine(chosen.Line);
        }

        tally.Sent += batch.Count;
        batch.Clear();
        Limits.AfterCommit?.Invoke(tally.Sent);
    }

    /// <summary>The dead letter a replay marker names; null for any other record.</summary>
    private static (int Partition, long Offset)? MarkedOffset(DecodedRecord record)
    {
        if (record.Header(DlqReplayCommand.ReplayedHeader) is not { } text)
        {
            return null;
        }

        var at = text.IndexOf('@', StringComparison.Ordinal);
        return at > 0 && int.TryParse(text[..at], NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
            && long.TryParse(text[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            ? (partition, offset)
            : null;
    }

    /// <summary>What the first reading leaves for the second: the markers' offsets, the codes present, each partition's end.</summary>
    private sealed record MarkedLetters(Dictionary<int, long> Ends, MarkerOffsets Replayed, HashSet<string> Codes);

    /// <summary>The dead-letter offsets markers name, a set per partition: 20 to 40 bytes a marker (an 8-byte offset in a hash set).</summary>
    private sealed class MarkerOffsets
    {
        private readonly Dictionary<int, HashSet<long>> _byPartition = [];

        public void Add(int partition, long offset)
        {
            if (!_byPartition.TryGetValue(partition, out var offsets))
            {
                _byPartition[partition] = offsets = [];
            }

            offsets.Add(offset);
        }

        public bool Contains(int partition, long offset) => _byPartition.TryGetValue(partition, out var offsets) && offsets.Contains(offset);
    }

    private sealed class ReplayTally
    {
        public int Letters;
        public int NotMatching;
        public int ReplayedBefore;
        public int WithoutValue;
        public int Chosen;
        public int Sent;
    }
}

/// <summary>A dead letter chosen for replay: the record, where it goes, and its line in the listing.</summary>
internal sealed record ChosenLetter(ConsumeResult<byte[], byte[]> Letter, string Target, string Line);

/// <summary>
/// The replay's transactional producer: each <see cref="Send"/> writes a batch of letters, each replayed record with its
/// marker, in one transaction, and commits it only when every record of it was delivered and no stop was asked for.
/// </summary>
internal sealed class ReplayTransactions : IDisposable
{
    private static readonly TimeSpan QueueFullWait = TimeSpan.FromMilliseconds(100);

    /// <summary>How long one wait for deliveries lasts before the cancellation token is looked at again.</summary>
    private static readonly TimeSpan DeliveryPoll = TimeSpan.FromMilliseconds(100);

    private readonly IProducer<byte[], byte[]> _producer;
    private static readonly TimeSpan InterruptedAbortTimeout = TimeSpan.FromSeconds(1);

    private readonly TimeSpan _noProgress;

    public ReplayTransactions(KafkaClientFactory factory, ReplayLimits limits)
    {
        _noProgress = limits.NoProgress;
        _producer = factory.CreateProducer<byte[], byte[]>(config =>
        {
            config.TransactionalId = DlqReplayCommand.TransactionalId;
            config.EnableIdempotence = true;
        });
        try
        {
            _producer.InitTransactions(_noProgress);
        }
        catch
        {
            _producer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The records (original key, value and headers, without the dlq-* ones) and their markers, in one transaction;
    /// aborted, not committed, when <paramref name="cancellationToken"/> is cancelled before the commit.
    /// </summary>
    public void Send(IReadOnlyList<ChosenLetter> batch, CancellationToken cancellationToken)
    {
        Error? failed = null;
        _producer.BeginTransaction();
        try
        {
            foreach (var (letter, target, _) in batch)
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
                var what = $"replaying {letter.Topic}/{source}";
                Produce(new TopicPartition(target, Partition.Any), new Message<byte[], byte[]> { Key = letter.Message.Key, Value = letter.Message.Value, Headers = headers },
                    report => Failed(report, $"{what} to {target}"), cancellationToken);
                Produce(letter.TopicPartition, new Message<byte[], byte[]>
                {
                    Key = letter.Message.Key,
                    Value = null!,
                    Headers = [new Header(DlqReplayCommand.ReplayedHeader, Encoding.UTF8.GetBytes(source))],
                }, report => Failed(report, $"{what}: its marker"), cancellationToken);
            }

            WaitForDeliveries(2 * batch.Count, cancellationToken);
            // A commit does not prove every delivery (docs/kafka.md, "Fault injection"): a failed record aborts the batch.
            if (Volatile.Read(ref failed) is { } error)
            {
                throw new KafkaException(error);
            }

            // Ctrl+C while the records went out: stop without committing them (the abort below).
            cancellationToken.ThrowIfCancellationRequested();
            _producer.CommitTransaction(_noProgress);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException or KafkaException { Error.IsFatal: false })
        {
            var cause = TransactionError(ex);
            try
            {
                // After Ctrl+C at most a second: System.CommandLine ends the process 2 s after the signal, and the user
                // must still be told what was replayed. An abort left unfinished is finished by the cluster
                // (transaction.timeout.ms) or fenced by the next replay's InitTransactions: nothing of it is committed.
                _producer.AbortTransaction(ex is OperationCanceledException ? InterruptedAbortTimeout : _noProgress);
            }
            catch (KafkaException) when (ex is KafkaException { Error.Code: ErrorCode.Local_PurgeQueue })
            {
                // The records were purged because the transaction failed (e.g. fenced): its error says why.
                throw;
            }
            catch (KafkaException)
            {
                // The error that made it abort is the one to report; a cluster aborts the transaction itself after
                // transaction.timeout.ms.
            }

            if (cause is not null)
            {
                throw cause;
            }

            throw;
        }

        void Failed(DeliveryReport<byte[], byte[]> report, string what)
        {
            if (report.Error.IsError)
            {
                Interlocked.CompareExchange(ref failed, new Error(report.Error.Code, $"{what}: {report.Error.Reason}", report.Error.IsFatal), null);
            }
        }
    }

    /// <summary>
    /// The error that failed the transaction when <paramref name="failure"/> is only its consequence, else null. On an
    /// abortable error librdkafka purges the transaction's undelivered records (their reports say <c>Local_PurgeQueue</c>)
    /// and refuses new ones (<c>Local_State</c>), and gives the error itself (e.g. <c>TopicAuthorizationFailed</c>: a
    /// partition the coordinator would not add) only to the next transactional call. <c>BeginTransaction</c> is asked:
    /// in that state it answers at once with that error, and in a transaction still going it only refuses (no side
    /// effect), as the processor's <c>RecordCollector.TransactionError</c> asks <c>SendOffsetsToTransaction</c>.
    /// </summary>
    private KafkaException? TransactionError(Exception failure)
    {
        if (failure is not KafkaException { Error.Code: ErrorCode.Local_PurgeQueue or ErrorCode.Local_State })
        {
            return null;
        }

        try
        {
            _producer.BeginTransaction();
            return null; // not reached mid-transaction: the state refuses it
        }
        catch (KafkaException e) when (e.Error.Code is not (ErrorCode.Local_State or ErrorCode.Local_PurgeQueue))
        {
            return e;
        }
        catch (KafkaException)
        {
            return null;
        }
    }

    public void Dispose() => _producer.Dispose();

    private void Produce(TopicPartition partition, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>> onDelivery, CancellationToken cancellationToken)
        => _producer.ProduceWaitingForRoom(partition, message, onDelivery, QueueFullWait, cancellationToken);

    /// <summary>
    /// Waits until all <paramref name="count"/> messages are delivered, giving up when none is for the no-progress time;
    /// waits in short steps so that a cancelled <paramref name="cancellationToken"/> stops it at once.
    /// </summary>
    private void WaitForDeliveries(int count, CancellationToken cancellationToken)
    {
        var left = count;
        var quiet = Stopwatch.StartNew();
        while (true)
        {
            var now = _producer.Flush(DeliveryPoll);
            if (now == 0)
            {
                return;
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (now < left)
            {
                left = now;
                quiet.Restart();
            }
            else if (quiet.Elapsed >= _noProgress)
            {
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                    $"replaying: {now} of {count} records and markers of a transaction not delivered, and none was for {_noProgress.TotalSeconds:0.###} s."));
            }
        }
    }
}
