using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalGenerator;

/// <summary>
/// Produces every configured stream to the input topic, chunk by chunk, paced to <see cref="GeneratorOptions.Rate"/>
/// samples/s per stream (or flat out when 0). Each stream's seq counts from 0; timestamp_ms is the produce time;
/// each batch is one producer span whose W3C trace context goes into every record's headers.
/// </summary>
public sealed class SignalGeneratorWorker(
    KafkaClientFactory kafka,
    IOptions<GeneratorOptions> options,
    GeneratorMetrics metrics,
    DeliveryHealth health,
    TimeProvider time,
    ILogger<SignalGeneratorWorker> logger) : BackgroundService
{
    // Bounds one span (and the time between cancellation checks) when catching up or running flat out.
    private const int MaxChunksPerBatch = 32;

    private long _deliveryErrors;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            logger.LogInformation("Signal generator disabled ({Setting}=false)", $"{GeneratorOptions.SectionName}:Enabled");
            return;
        }

        // Leave host start-up before the first (blocking) produce call.
        await Task.Yield();

        var topic = settings.Topic!;
        var streams = Enumerable.Range(0, settings.Streams)
            .Select(i => new GeneratedStream(settings.StreamId(i), new SignalSource(settings.ShapeOf(i), GeneratorOptions.StreamSeed(settings.Seed, i), settings.SampleRate, settings.Noise)))
            .ToArray();
        logger.LogInformation(
            "Producing {Streams} streams ({Shapes}) to {Topic}: {ChunkSize}-sample {Format} chunks at {Rate} samples/s per stream",
            streams.Length, settings.Shapes, topic, settings.ChunkSize, settings.Format, settings.Rate > 0 ? settings.Rate : "max");

        // The topic was checked at start; a record for it after it was deleted must fail (/health unhealthy, the error
        // logged) rather than create it again with the broker's defaults (librdkafka's producer default), which would
        // also hide the deletion from the processor (docs/processor.md, "Topics changed while running").
        using var producer = kafka.CreateProducer<byte[], byte[]>(config => config.AllowAutoCreateTopics ??= false);
        var samples = new double[settings.ChunkSize];
        var started = Stopwatch.GetTimestamp();
        long produced = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested && (settings.MaxChunks == 0 || produced < settings.MaxChunks))
            {
                long batch = MaxChunksPerBatch;
                if (settings.Rate > 0)
                {
                    // Chunk k of every stream is due at k·ChunkSize/Rate seconds after start.
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    var due = (long)(elapsed.TotalSeconds * settings.Rate / settings.ChunkSize) + 1;
                    if (due <= produced)
                    {
                        var next = TimeSpan.FromSeconds(produced * settings.ChunkSize / settings.Rate) - elapsed;
                        await Task.Delay(next > TimeSpan.FromMilliseconds(1) ? next : TimeSpan.FromMilliseconds(1), time, stoppingToken);
                        continue;
                    }

                    batch = Math.Min(due - produced, MaxChunksPerBatch);
                }

                if (settings.MaxChunks > 0)
                {
                    batch = Math.Min(batch, settings.MaxChunks - produced);
                }

                ProduceBatch(producer, topic, streams, samples, (int)batch, settings, stoppingToken);
                produced += batch;
            }

            if (!stoppingToken.IsCancellationRequested)
            {
                logger.LogInformation("Produced {Chunks} chunks per stream ({Setting}); stopping", produced, $"{GeneratorOptions.SectionName}:MaxChunks");
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            var remaining = producer.Flush(TimeSpan.FromSeconds(10));
            logger.LogInformation(
                "Generator stopped after {Chunks} chunks per stream; {Undelivered} undelivered, {Errors} delivery errors",
                produced, remaining, Interlocked.Read(ref _deliveryErrors));
        }
    }

    private void ProduceBatch(IProducer<byte[], byte[]> producer, string topic, GeneratedStream[] streams, double[] samples, int chunks, GeneratorOptions settings, CancellationToken cancellationToken)
    {
        using var activity = GeneratorMetrics.ActivitySource.StartActivity($"send {topic}", ActivityKind.Producer);
        activity?.SetTag("messaging.system", "kafka");
        activity?.SetTag("messaging.operation.type", "send");
        activity?.SetTag("messaging.destination.name", topic);
        activity?.SetTag("messaging.batch.message_count", chunks * streams.Length);

        for (var k = 0; k < chunks; k++)
        {
            foreach (var stream in streams)
            {
                stream.Source.Fill(samples);
                var chunk = new SampleChunk(stream.Id, stream.Seq, samples, settings.SampleRate, time.GetUtcNow().ToUnixTimeMilliseconds())
                {
                    Format = settings.Format,
                };
                var message = SampleCodec.ToMessage(chunk);
                KafkaTracing.InjectTraceContext(message.Headers, activity?.Context ?? default);
                Produce(producer, topic, message, cancellationToken);
                stream.Seq++;
            }
        }

        metrics.Produced(chunks * streams.Length, (long)chunks * streams.Length * samples.Length);
    }

    private void Produce(IProducer<byte[], byte[]> producer, string topic, Message<byte[], byte[]> message, CancellationToken cancellationToken)
    {
        // Flat-out mode outruns the broker: wait for deliveries to free the local queue, never drop a chunk.
        health.Producing();
        try
        {
            producer.ProduceWaitingForRoom(new TopicPartition(topic, Partition.Any), message, OnDelivered, TimeSpan.FromMilliseconds(50), cancellationToken);
        }
        catch
        {
            // Not handed over (stopped while the queue was full): no delivery report will answer for it.
            health.NotProduced();
            throw;
        }
    }

    private void OnDelivered(DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            metrics.DeliveryFailed();
            Interlocked.Increment(ref _deliveryErrors);
            // The first refusal of a run is logged (with /health turning unhealthy), so an outage long after the first
            // ten errors is not silent.
            if (health.Failed(report.Error.Reason))
            {
                logger.LogError("Chunk of {Key} not delivered: {Error}; /health is unhealthy until the broker acknowledges a chunk again",
                    Encoding.UTF8.GetString(report.Message.Key), report.Error.Reason);
            }
        }
        else if (health.Delivered() is > 0 and var refused)
        {
            logger.LogInformation("Chunks delivered again after {Refused} not delivered", refused);
        }
    }

    private sealed class GeneratedStream(string id, SignalSource source)
    {
        public string Id { get; } = id;
        public SignalSource Source { get; } = source;
        public long Seq { get; set; }
    }
}
