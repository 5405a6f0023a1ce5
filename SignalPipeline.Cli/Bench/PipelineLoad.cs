using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Bench;

/// <summary>What one pipeline measurement offers the processor.</summary>
/// <param name="MaxBacklogSamples">Throughput phase: the producer waits while this many samples are produced but not yet
/// seen at the output, so the measured rate is what the processor sustains (and the dev broker, which keeps only the
/// newest ~5 MiB per partition, never drops unread input).</param>
public sealed record PipelineLoadSettings(
    string Brokers,
    int Streams,
    int ChunkSamples,
    SampleFormat Format,
    TimeSpan Warmup,
    TimeSpan ThroughputDuration,
    TimeSpan LatencyDuration,
    double LatencyRate,
    long MaxBacklogSamples,
    string InputTopic = PipelineTopics.DefaultInput,
    string OutputTopic = PipelineTopics.DefaultOutput)
{
    /// <summary>What the load adds to its threads' nice value (<see cref="LoadPriority"/>); 0 runs it at the bench's priority.</summary>
    public int Nice { get; init; } = LoadPriority.DefaultNice;
}

/// <param name="SustainedSamplesPerSecond">Output samples per second after warm-up with the producer kept ahead.</param>
/// <param name="Lost">Chunks produced but never seen in the read_committed output.</param>
/// <param name="Duplicates">Chunks seen more than once in the output.</param>
/// <param name="LatencyOfferedRate">The latency phase's offered rate: the requested one, or 60% of the sustained rate if lower.</param>
/// <param name="LatencyAchievedRate">Output samples per second during the latency phase (should equal the offered rate).</param>
/// <param name="LatencyFromMs">Start of the latency measurement (Unix ms; after the phase's warm-up second).</param>
/// <param name="LatencyToMs">End of the latency phase (Unix ms).</param>
public sealed record PipelineLoadResult(
    double SustainedSamplesPerSecond,
    long ProducedChunks,
    long DeliveredChunks,
    long Lost,
    long Duplicates,
    LatencySummary? Latency,
    double LatencyOfferedRate,
    double LatencyAchievedRate,
    long LatencyFromMs,
    long LatencyToMs)
{
    /// <summary>
    /// CPU microseconds per output record during the throughput window, by role (<see cref="ProcessCpu"/>: the load, i.e.
    /// this process's producer and output consumer; the broker; the worker); null without /proc.
    /// </summary>
    public IReadOnlyDictionary<string, double>? CpuMicrosPerRecord { get; init; }

    /// <summary>The input's partitions, read from the broker's metadata: the streams went round-robin over them (i mod N).</summary>
    public int Partitions { get; init; }
}

/// <summary>
/// Drives <c>sample-input</c> and watches <c>sample-output</c> (read_committed, every partition): a throughput phase
/// with a bounded backlog, then a latency phase at a fixed offered rate. Every (stream, seq) produced must come out
/// exactly once.
/// </summary>
public sealed class PipelineLoad(PipelineLoadSettings settings, IProgress<string> progress)
{
    // A fresh prefix per run, so a run against a long-lived cluster never meets an earlier run's streams.
    private readonly string[] _streamIds = Enumerable.Range(0, settings.Streams)
        .Select(i => $"bench-{Guid.NewGuid().ToString("N")[..8]}-{i:D3}").ToArray();
    private readonly long[] _nextSeq = new long[settings.Streams];
    private readonly TopicPartition[] _partitionOf = new TopicPartition[settings.Streams];
    private readonly HashSet<long>[] _seen = Enumerable.Range(0, settings.Streams).Select(_ => new HashSet<long>()).ToArray();
    private readonly LatencyRecorder _latency = new();
    private readonly byte[]?[] _signalJson = new byte[settings.Streams][];
    private long _producedChunks;
    private long _producedSamples;
    private long _deliveredChunks;
    private long _deliveredSamples;
    private long _duplicates;
    private long _decodeFailures;
    private long _latencyFromMs = long.MaxValue;
    private int _partitions;

    /// <summary>
    /// Runs the load on a thread of its own, its nice value raised by <see cref="PipelineLoadSettings.Nice"/>; the threads
    /// it creates (the output consumer's, librdkafka's, Confluent.Kafka's poll thread) inherit it.
    /// </summary>
    public Task<PipelineLoadResult> RunAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<PipelineLoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                if (settings.Nice > 0 && LoadPriority.LowerCurrentThread(settings.Nice) is null)
                {
                    progress.Report($"  note: the load's priority could not be lowered (nice +{settings.Nice}): it runs at the bench's own");
                }

                done.SetResult(Run(cancellationToken));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                done.SetCanceled(cancellationToken);
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "bench load",
        };
        thread.Start();
        return done.Task;
    }

    private PipelineLoadResult Run(CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // The project's one client setup (KafkaConnection.CreateFactory, as the operations verbs): Kafka__Client__* (the
        // cluster's security) reaches the bench's own clients as it reaches the services', and librdkafka's warnings and
        // errors are `kafka warning: ...` lines on stderr, each event once, not librdkafka's raw lines.
        using var factory = KafkaConnection.CreateFactory(settings.Brokers, Console.Error, KafkaConnection.BenchClientId);
        var watcher = Task.Factory.StartNew(() => WatchOutput(factory, stop.Token), TaskCreationOptions.LongRunning);
        using var producer = factory.CreateProducer<byte[], byte[]>(config =>
        {
            config.LingerMs = 2;
            config.BatchSize = 4 * 1024 * 1024;
            config.QueueBufferingMaxKbytes = 256 * 1024;
            config.MessageMaxBytes = 16 * 1024 * 1024;
            config.EnableIdempotence = false;
            config.Acks = Acks.Leader;

            // No delivery reports: the load's CPU is taken from what it measures (issue 14), and a report per record cost
            // it a handler object, a GC handle and the report. A record that could not be produced is not missed: it never
            // reaches the output, and the run counts it as lost (exit 1).
            config.EnableDeliveryReports = false;
        });

        var chunks = _streamIds.Select((_, i) => MakeSignal(i, settings.ChunkSamples)).ToArray();

        // Streams go round-robin over the input partitions instead of by key hash: with 16 random ids on 8 partitions the
        // hash put up to 5 streams on one partition, and that partition's share of the backlog could pass the dev
        // broker's ~5 MiB per partition, which drops unread data (one run lost 190 chunks that way). A stream still
        // stays on one partition, which is all the processor needs.
        using (var admin = new DependentAdminClientBuilder(producer.Handle).Build())
        {
            _partitions = admin.GetMetadata(settings.InputTopic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count;
            for (var i = 0; i < _partitionOf.Length; i++)
            {
                _partitionOf[i] = new TopicPartition(settings.InputTopic, i % _partitions);
            }
        }
        try
        {
            // Rounds of one chunk per stream until two rounds in a row come out within a second: by then every
            // processor has joined the group, the rebalances are over and the state is restored.
            for (var (round, fast) = (0, 0); fast < 2; round++)
            {
                if (round == 30)
                {
                    throw new TimeoutException("The pipeline did not settle within 30 rounds: is the processor running? See artifacts/bench-logs.");
                }

                var clock = Stopwatch.StartNew();
                for (var stream = 0; stream < chunks.Length; stream++)
                {
                    Produce(producer, stream, chunks[stream]);
                }

                Drain(producer, stop.Token);
                if (Interlocked.Read(ref _deliveredChunks) < Interlocked.Read(ref _producedChunks))
                {
                    throw new TimeoutException("The pipeline delivered nothing within 60 s: is the processor running? See artifacts/bench-logs.");
                }

                fast = clock.Elapsed < TimeSpan.FromSeconds(1) ? fast + 1 : 0;
            }

            var (sustained, cpu) = ThroughputPhase(producer, chunks, stop.Token);
            Drain(producer, stop.Token);

            // Latency is measured below saturation: at the requested rate, or 60% of what this setup sustains if that is
            // less (above it the backlog, and so the latency, only grows, and the dev broker starts dropping old data).
            var latencyRate = Math.Min(settings.LatencyRate, 0.6 * sustained);
            var (achieved, _) = LatencyPhase(producer, chunks, latencyRate, stop.Token);
            var latencyTo = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            Drain(producer, stop.Token);

            var produced = Interlocked.Read(ref _producedChunks);
            var delivered = Interlocked.Read(ref _deliveredChunks);
            if (Interlocked.Read(ref _decodeFailures) > 0)
            {
                progress.Report($"  warning: {_decodeFailures} output records did not decode");
            }

            return new PipelineLoadResult(sustained, produced, delivered, produced - delivered, Interlocked.Read(ref _duplicates),
                _latency.Summarize(), latencyRate, achieved, Volatile.Read(ref _latencyFromMs), latencyTo) { CpuMicrosPerRecord = cpu, Partitions = _partitions };
        }
        finally
        {
            stop.Cancel();
            try
            {
                watcher.Wait(TimeSpan.FromSeconds(10), CancellationToken.None);
            }
            catch (AggregateException)
            {
                // The watcher's own failure: the counts above already say what came out.
            }
        }
    }

    private (double Rate, IReadOnlyDictionary<string, double>? CpuMicrosPerRecord) ThroughputPhase(
        IProducer<byte[], byte[]> producer, double[][] chunks, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var end = settings.Warmup + settings.ThroughputDuration;
        long? windowStartSamples = null;
        long windowStartChunks = 0;
        ProcessCpu? cpu = null;
        var windowStart = TimeSpan.Zero;
        var nextReport = TimeSpan.FromSeconds(1);
        var (lastReport, lastSamples) = (TimeSpan.Zero, Interlocked.Read(ref _deliveredSamples));
        var stream = 0;
        var startMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // One clock read per record produced, which also stamps it (timestamp-ms): three reads and a wall-clock one per
        // record were a few percent of the bench's CPU at 64 samples a chunk (issue 14).
        for (var now = clock.Elapsed; now < end; now = clock.Elapsed)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (windowStartSamples is null && now >= settings.Warmup)
            {
                windowStartSamples = Interlocked.Read(ref _deliveredSamples);
                windowStartChunks = Interlocked.Read(ref _deliveredChunks);
                windowStart = now;
                cpu = ProcessCpu.Snapshot();
            }

            if (now >= nextReport)
            {
                nextReport += TimeSpan.FromSeconds(1);
                var samples = Interlocked.Read(ref _deliveredSamples);
                var phase = windowStartSamples is { } from
                    ? $"measured so far {(samples - from) / (now - windowStart).TotalSeconds / 1e6:0.00} M"
                    : "warming up";
                progress.Report($"  throughput {now.TotalSeconds,5:0.0}/{end.TotalSeconds:0} s: {(samples - lastSamples) / (now - lastReport).TotalSeconds / 1e6,6:0.00} M samples/s in the last second ({phase})");
                (lastReport, lastSamples) = (now, samples);
            }

            if (Interlocked.Read(ref _producedSamples) - Interlocked.Read(ref _deliveredSamples) > settings.MaxBacklogSamples)
            {
                producer.Poll(TimeSpan.Zero);
                Thread.Sleep(1);
                continue;
            }

            Produce(producer, stream, chunks[stream], startMs + (long)now.TotalMilliseconds);
            stream = (stream + 1) % chunks.Length;
        }

        var windowSamples = Interlocked.Read(ref _deliveredSamples) - (windowStartSamples ?? 0);
        var windowChunks = Math.Max(1, Interlocked.Read(ref _deliveredChunks) - windowStartChunks);
        var perRecord = cpu?.Since().ToDictionary(kv => kv.Key, kv => kv.Value * 1e6 / windowChunks);
        if (perRecord is not null)
        {
            // A role without a process (the broker, with --brokers) was not measured: "-", not 0.
            string Us(string role) => perRecord.TryGetValue(role, out var us) ? string.Create(CultureInfo.InvariantCulture, $"{us:0.0} us") : "-";
            progress.Report(string.Create(CultureInfo.InvariantCulture,
                $"  CPU per output record: worker {Us(ProcessCpu.Worker)}, broker {Us(ProcessCpu.Broker)}, load (producer + output consumer) {Us(ProcessCpu.Load)}"));
        }

        return (windowSamples / (clock.Elapsed - windowStart).TotalSeconds, perRecord);
    }

    private (double Achieved, TimeSpan Duration) LatencyPhase(
        IProducer<byte[], byte[]> producer, double[][] chunks, double rate, CancellationToken cancellationToken)
    {
        // Latencies count from one warm-up second into the phase: the first chunks after a drain see an idle pipeline.
        var warmup = TimeSpan.FromSeconds(1);
        var duration = warmup + settings.LatencyDuration;
        Volatile.Write(ref _latencyFromMs, DateTimeOffset.UtcNow.Add(warmup).ToUnixTimeMilliseconds());
        var startSamples = Interlocked.Read(ref _deliveredSamples);
        var chunksPerSecond = rate / settings.ChunkSamples;
        var clock = Stopwatch.StartNew();
        var nextReport = TimeSpan.FromSeconds(1);
        long sent = 0;
        var stream = 0;
        while (clock.Elapsed < duration)
        {
            var due = (long)(clock.Elapsed.TotalSeconds * chunksPerSecond) - sent;
            var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (; due > 0; due--, sent++)
            {
                Produce(producer, stream, chunks[stream], nowMs);
                stream = (stream + 1) % chunks.Length;
            }

            if (clock.Elapsed >= nextReport)
            {
                nextReport += TimeSpan.FromSeconds(1);
                var summary = _latency.Summarize();
                progress.Report($"  latency    {clock.Elapsed.TotalSeconds,5:0.0}/{duration.TotalSeconds:0} s at {rate / 1e6:0.00} M samples/s offered: p99 so far {summary?.P99.ToString("0.0") ?? "-"} ms");
            }

            producer.Poll(TimeSpan.Zero);
            Thread.Sleep(1);
            cancellationToken.ThrowIfCancellationRequested();
        }

        var achieved = (Interlocked.Read(ref _deliveredSamples) - startSamples) / clock.Elapsed.TotalSeconds;
        return (achieved, clock.Elapsed);
    }

    /// <summary>Waits until every produced chunk is seen at the output, or 60 s pass (then the difference is reported as lost).</summary>
    private void Drain(IProducer<byte[], byte[]> producer, CancellationToken cancellationToken)
    {
        producer.Flush(cancellationToken);
        var clock = Stopwatch.StartNew();
        while (Interlocked.Read(ref _deliveredChunks) < Interlocked.Read(ref _producedChunks) && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            Thread.Sleep(20);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private void Produce(IProducer<byte[], byte[]> producer, int stream, double[] samples) => Produce(producer, stream, samples, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    private void Produce(IProducer<byte[], byte[]> producer, int stream, double[] samples, long timestampMs)
    {
        // JSON samples are formatted once per stream: the load generator shares the 2 cores with what it measures, and
        // formatting 4096 doubles per chunk took a third of a core.
        var chunk = new SampleChunk(_streamIds[stream], _nextSeq[stream]++, samples, SampleRate: 8000,
            TimestampMs: timestampMs)
        {
            Format = settings.Format,
            SignalJson = settings.Format == SampleFormat.Json ? _signalJson[stream] ??= JsonSerializer.SerializeToUtf8Bytes(samples) : default,
        };
        var message = SampleCodec.ToMessage(chunk);
        producer.ProduceWaitingForRoom(_partitionOf[stream], message, deliveryHandler: null, TimeSpan.FromMilliseconds(5));

        Interlocked.Increment(ref _producedChunks);
        Interlocked.Add(ref _producedSamples, samples.Length);
    }

    private void WatchOutput(KafkaClientFactory factory, CancellationToken cancellationToken)
    {
        using var consumer = factory.CreateConsumer<Ignore, OutputIdentity>("bench-output-" + Guid.NewGuid().ToString("N"), config =>
        {
            config.EnableAutoCommit = false;
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            config.FetchWaitMaxMs = 1;
            config.FetchMaxBytes = 64 * 1024 * 1024;
            config.MaxPartitionFetchBytes = 16 * 1024 * 1024;

            // Only the headers are read (format, seq, timestamp): no topic name or timestamp marshalled per record.
            config.ConsumeResultFields = "headers";
        }, build: builder => builder.SetValueDeserializer(new OutputIdentityDeserializer()));

        using (var admin = factory.CreateAdminClient())
        {
            var topic = admin.GetMetadata(settings.OutputTopic, TimeSpan.FromSeconds(10)).Topics.Single();
            consumer.Assign(topic.Partitions.Select(p => new TopicPartitionOffset(settings.OutputTopic, p.PartitionId, Offset.Beginning)));
        }

        var index = _streamIds.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        while (!cancellationToken.IsCancellationRequested)
        {
            var result = consumer.Consume(100);
            if (result is null)
            {
                continue;
            }

            var identity = result.Message.Value;
            if (!identity.IsReadable)
            {
                Interlocked.Increment(ref _decodeFailures);
                continue;
            }

            if (!index.TryGetValue(identity.StreamId, out var stream))
            {
                continue; // another run's stream on a shared cluster
            }

            if (!_seen[stream].Add(identity.Seq))
            {
                Interlocked.Increment(ref _duplicates);
                continue;
            }

            if (identity.TimestampMs >= Volatile.Read(ref _latencyFromMs))
            {
                // The clock is read for latency records only: at 64 samples a chunk a clock read per record was a few
                // percent of the bench's CPU, which it shares with what it measures (issue 14).
                _latency.Record(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - identity.TimestampMs);
            }

            // Every chunk the bench produces has ChunkSamples samples (the pass-through copies them, the processor keeps the count).
            Interlocked.Increment(ref _deliveredChunks);
            Interlocked.Add(ref _deliveredSamples, settings.ChunkSamples);
        }

        consumer.Close();
    }

    /// <summary>A noisy two-tone signal, different per stream; its content does not change the filters' cost.</summary>
    private static double[] MakeSignal(int stream, int length)
    {
        var random = new Random(stream);
        var samples = new double[length];
        for (var n = 0; n < length; n++)
        {
            samples[n] = Math.Sin(2 * Math.PI * (50 + stream) * n / 8000.0) + 0.3 * Math.Sin(2 * Math.PI * 440 * n / 8000.0)
                         + 0.1 * (random.NextDouble() - 0.5);
        }

        return samples;
    }
}
