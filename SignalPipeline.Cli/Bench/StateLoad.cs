using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// Traffic of fixed, known streams (the state and mixed benchmarks): chunks produced to sample-input (stream i always to
/// partition i mod partitions, so a later chunk meets the stream's state), and a read_committed watcher that checks
/// which (stream, seq) came out of sample-output, each once and in order (<see cref="OutputSeqs"/>: a counter per
/// stream, so a million streams cost 8 MB here), and, when told, that each came out of the stream's own algorithm.
/// </summary>
public sealed class StateLoad : IDisposable
{
    public const int DefaultChunkSamples = 4;

    // Most chunks produced but not yet seen at the output: the dev broker keeps only ~5 MiB per partition, so unread
    // input must stay well below that (100k chunks of ~110 bytes over 32 partitions is ~350 KB each; larger chunks: at
    // most 8 MiB of samples, ~1 MiB per partition on 8).
    private readonly long _maxBacklog;

    private readonly KafkaClientFactory _clients;
    private readonly string _prefix = $"state-{Guid.NewGuid().ToString("N")[..6]}-";
    private readonly OutputSeqs _seen;
    private readonly string[]? _algorithms;
    private readonly double[]?[] _signals;
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watcher;
    private readonly int _partitions;
    private long _produced;
    private long _delivered;
    private long _duplicates;
    private long _deliveryErrors;
    private long _gaps;
    private long _otherAlgorithm;

    /// <param name="algorithms">When set, the algorithm each stream's output must name (else it is counted in <see cref="OtherAlgorithm"/>).</param>
    public StateLoad(string brokers, int streams, int chunkSamples = DefaultChunkSamples, string[]? algorithms = null)
    {
        // The project's one client setup, as the operations verbs: Kafka__Client__* reaches these clients too, and
        // librdkafka's warnings are `kafka warning: ...` lines on stderr, not its raw lines.
        _clients = KafkaConnection.CreateFactory(brokers, Console.Error, KafkaConnection.BenchClientId);
        _seen = new OutputSeqs(streams);
        _algorithms = algorithms;
        ChunkSamples = chunkSamples;
        Streams = streams;
        _maxBacklog = Math.Min(100_000, 8 * 1024 * 1024 / (chunkSamples * sizeof(double)));

        // Larger chunks are built once per stream and sent again each round: the load generator shares the cores with
        // what it measures. A million 4-sample streams are built per chunk instead (each is sent only a few times).
        _signals = new double[]?[chunkSamples > DefaultChunkSamples ? streams : 0];
        _producer = _clients.CreateProducer<byte[], byte[]>(config =>
        {
            config.LingerMs = 5;
            config.BatchSize = 1024 * 1024;
            config.QueueBufferingMaxMessages = 1_000_000;
            config.EnableIdempotence = false;
            config.Acks = Acks.Leader;
        });
        using (var admin = new DependentAdminClientBuilder(_producer.Handle).Build())
        {
            _partitions = admin.GetMetadata(PipelineTopics.DefaultInput, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count;
        }

        _watcher = Task.Factory.StartNew(() => Watch(_stop.Token), TaskCreationOptions.LongRunning);
    }

    public int Partitions => _partitions;

    public int Streams { get; }

    public int ChunkSamples { get; }

    public long Produced => Interlocked.Read(ref _produced);

    public long Delivered => Interlocked.Read(ref _delivered);

    public long Duplicates => Interlocked.Read(ref _duplicates);

    public long DeliveryErrors => Interlocked.Read(ref _deliveryErrors);

    /// <summary>Records that came out after a later seq than their stream's next (the seqs between were skipped).</summary>
    public long Gaps => Interlocked.Read(ref _gaps);

    /// <summary>Records whose algorithm is not the one their stream was given.</summary>
    public long OtherAlgorithm => Interlocked.Read(ref _otherAlgorithm);

    public string StreamId(int stream) => _prefix + stream.ToString(CultureInfo.InvariantCulture);

    /// <summary>Streams whose seqs 0..<paramref name="seqs"/>−1 did not all come out.</summary>
    public int StreamsShort(int seqs) => _seen.StreamsShort(seqs);

    /// <summary>Produces seq <paramref name="seq"/> of streams [<paramref name="from"/>, <paramref name="to"/>) and waits until all came out.</summary>
    public async Task ProduceAndDrainAsync(int from, int to, int seq, IProgress<string> progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var nextReport = TimeSpan.FromSeconds(5);
        for (var stream = from; stream < to; stream++)
        {
            await WaitBacklogAsync(cancellationToken);
            Produce(stream, seq);
            if (clock.Elapsed >= nextReport)
            {
                nextReport += TimeSpan.FromSeconds(5);
                progress.Report(string.Create(CultureInfo.InvariantCulture, $"  {clock.Elapsed.TotalSeconds,5:0} s: {stream - from} of {to - from} streams produced, {Delivered} chunks out"));
            }
        }

        _producer.Flush(cancellationToken);
        await WaitDeliveredAsync(Produced, TimeSpan.FromSeconds(60), progress, cancellationToken);
    }

    /// <summary>
    /// Rounds of one chunk per stream, seq <paramref name="fromSeq"/>, then the next, ..., as fast as the backlog allows,
    /// while <paramref name="more"/> says so at a round's start; returns the first seq not produced (no waiting for the output).
    /// </summary>
    public async Task<int> ProduceRoundsAsync(int fromSeq, Func<bool> more, CancellationToken cancellationToken)
    {
        var seq = fromSeq;
        for (; more(); seq++)
        {
            for (var stream = 0; stream < Streams; stream++)
            {
                await WaitBacklogAsync(cancellationToken);
                Produce(stream, seq);
            }
        }

        _producer.Flush(cancellationToken);
        return seq;
    }

    private async Task WaitBacklogAsync(CancellationToken cancellationToken)
    {
        while (Produced - Delivered > _maxBacklog)
        {
            _producer.Poll(TimeSpan.Zero);
            await Task.Delay(2, cancellationToken);
        }
    }

    /// <summary>Produces one chunk of seq <paramref name="seq"/> for each given stream (no waiting).</summary>
    public void ProduceProbes(IEnumerable<int> streams, int seq)
    {
        foreach (var stream in streams)
        {
            Produce(stream, seq);
        }

        _producer.Flush(TimeSpan.FromSeconds(30));
    }

    public bool HasOutput(int stream, int seq) => _seen.Has(stream, seq);

    /// <summary>Waits until <paramref name="count"/> chunks came out; throws once nothing new came out for <paramref name="stall"/>.</summary>
    public async Task WaitDeliveredAsync(long count, TimeSpan stall, IProgress<string> progress, CancellationToken cancellationToken)
    {
        var (last, since) = (Delivered, Stopwatch.StartNew());
        var nextReport = TimeSpan.FromSeconds(5);
        var clock = Stopwatch.StartNew();
        while (Delivered < count)
        {
            await Task.Delay(20, cancellationToken);
            if (Delivered != last)
            {
                (last, since) = (Delivered, Stopwatch.StartNew());
            }
            else if (since.Elapsed > stall)
            {
                throw new TimeoutException($"The processor stalled: {Delivered} of {count} chunks came out, nothing more for {stall.TotalSeconds:0} s (see artifacts/bench-logs).");
            }

            if (clock.Elapsed >= nextReport)
            {
                nextReport += TimeSpan.FromSeconds(5);
                progress.Report($"  draining: {Delivered} of {count} chunks out");
            }
        }
    }

    /// <summary>Records of the changelog the broker no longer holds (the sum of its partitions' low watermarks).</summary>
    public long ChangelogRecordsDropped(string changelogTopic)
    {
        using var consumer = _clients.CreateConsumer<byte[], byte[]>("state-bench-watermarks");
        return Enumerable.Range(0, _partitions)
            .Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(changelogTopic, p), TimeSpan.FromSeconds(10)).Low.Value);
    }

    private void Produce(int stream, int seq)
    {
        var samples = stream < _signals.Length ? _signals[stream] ??= Signal(stream, 0) : Signal(stream, seq);
        var chunk = new SampleChunk(StreamId(stream), seq, samples, SampleRate: 8000,
            TimestampMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) { Format = SampleFormat.Float64 };
        var message = SampleCodec.ToMessage(chunk);
        var partition = new TopicPartition(PipelineTopics.DefaultInput, stream % _partitions);
        _producer.ProduceWaitingForRoom(partition, message, report =>
        {
            if (report.Error.IsError)
            {
                Interlocked.Increment(ref _deliveryErrors);
            }
        }, TimeSpan.FromMilliseconds(5));

        Interlocked.Increment(ref _produced);
    }

    private double[] Signal(int stream, int seq)
    {
        var samples = new double[ChunkSamples];
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = Math.Sin(stream + i + seq * ChunkSamples);
        }

        return samples;
    }

    private void Watch(CancellationToken cancellationToken)
    {
        using var consumer = _clients.CreateConsumer<byte[], byte[]>("state-bench-output-" + Guid.NewGuid().ToString("N"), config =>
        {
            config.EnableAutoCommit = false;
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            config.FetchWaitMaxMs = 5;
            config.FetchMaxBytes = 64 * 1024 * 1024;
        });
        consumer.Assign(Enumerable.Range(0, _partitions).Select(p => new TopicPartitionOffset(PipelineTopics.DefaultOutput, p, Offset.Beginning)));
        using var buffer = new SampleBuffer();
        while (!cancellationToken.IsCancellationRequested)
        {
            var result = consumer.Consume(100);
            if (result?.Message is null
                || !SampleCodec.TryDecodeFilteredChunk(result.Message.Key, result.Message.Value, result.Message.Headers, out var chunk, out _, buffer)
                || !chunk.StreamId.StartsWith(_prefix, StringComparison.Ordinal)
                || !int.TryParse(chunk.StreamId.AsSpan(_prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var stream)
                || stream >= Streams || chunk.Seq < 0)
            {
                continue;
            }

            switch (_seen.Record(stream, chunk.Seq))
            {
                case SeqOutcome.Duplicate:
                    Interlocked.Increment(ref _duplicates);
                    continue;
                case SeqOutcome.Gap:
                    Interlocked.Increment(ref _gaps);
                    break;
            }

            if (_algorithms is not null && !string.Equals(chunk.Algorithm, _algorithms[stream], StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _otherAlgorithm);
            }

            Interlocked.Increment(ref _delivered);
        }

        consumer.Close();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _watcher.Wait(TimeSpan.FromSeconds(10));
        _producer.Dispose();
        _stop.Dispose();
        _clients.Dispose();
    }
}
