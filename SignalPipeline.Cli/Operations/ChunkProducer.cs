using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// Cuts a signal into chunks of <see cref="ProduceRequest.ChunkSize"/> and sends them in seq order with an idempotent
/// producer (so a retry can neither reorder nor duplicate seqs), paced to <see cref="ProduceRequest.Rate"/>.
/// </summary>
public sealed class ChunkProducer(KafkaClientFactory factory, ProduceRequest request, VerbOutput output)
{
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long an interrupted produce waits for the chunks already handed over (within System.CommandLine's 2 s).</summary>
    private static readonly TimeSpan InterruptFlushTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The longest single wait while pacing (a wait takes at most int.MaxValue ms, and a slow rate's chunk is further away).</summary>
    private static readonly TimeSpan LongestWait = TimeSpan.FromHours(1);

    public int Run(SignalSource source, CancellationToken cancellationToken)
    {
        using var producer = factory.CreateProducer<byte[], byte[]>(config =>
        {
            config.EnableIdempotence = true;
            config.LingerMs = 5;
        });
        long delivered = 0;
        var failures = 0;
        Error? firstError = null;
        void OnDelivery(DeliveryReport<byte[], byte[]> report)
        {
            if (report.Error.IsError)
            {
                if (Interlocked.Increment(ref failures) == 1)
                {
                    firstError = report.Error;
                }
            }
            else
            {
                Interlocked.Increment(ref delivered);
            }
        }

        var clock = Stopwatch.StartNew();
        var seq = request.StartSeq;
        long samples = 0;
        var buffer = new double[request.ChunkSize];
        var filled = 0;
        try
        {
            foreach (var sample in source.Samples)
            {
                buffer[filled++] = sample;
                if (filled == buffer.Length)
                {
                    Send(producer, buffer, seq++, source.SampleRate, OnDelivery, cancellationToken);
                    samples += filled;
                    filled = 0;
                    Pace(clock, samples, cancellationToken);
                }
            }

            if (filled > 0)
            {
                Send(producer, buffer.AsSpan(0, filled).ToArray(), seq++, source.SampleRate, OnDelivery, cancellationToken);
                samples += filled;
            }
        }
        catch (UsageException ex) when (seq > request.StartSeq)
        {
            // A bad line or sample after the first chunk: the chunks before it were handed over. Deliver them (disposed
            // unflushed, the producer dropped the ones still queued) and say how far the stream got.
            var unconfirmed = producer.Flush(FlushTimeout) + Volatile.Read(ref failures);
            var sent = Interlocked.Read(ref delivered);
            throw new UsageException(ex.Message + " " +
                (sent == 0 ? $"No chunk before it was delivered to {request.Topic}."
                    : $"{Counted.Of(sent, "chunk")} before it {Counted.Was(sent)} delivered to {request.Topic} {WhereToGoOn(sent)}") +
                (unconfirmed > 0 ? $" {Counted.Of(unconfirmed, "more chunk")} {Counted.Was(unconfirmed)} not delivered." : string.Empty));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: deliver what was handed over (briefly: System.CommandLine ends the process 2 s after the signal) and
            // say where the stream now ends on the topic, so it can be continued with --start-seq.
            var unconfirmed = producer.Flush(InterruptFlushTimeout) + Volatile.Read(ref failures);
            var sent = Interlocked.Read(ref delivered);
            output.Error.WriteLine(
                (sent == 0 ? $"interrupted: no chunk was delivered to {request.Topic}."
                    : $"interrupted: {Counted.Of(sent, "chunk")} {Counted.Was(sent)} delivered to {request.Topic} {WhereToGoOn(sent)}") +
                (unconfirmed > 0 ? $" {Counted.Of(unconfirmed, "more chunk")} {Counted.Was(unconfirmed)} handed to the producer but not confirmed: they may or may not be on the topic." : string.Empty));
            return ExitCodes.Failure;
        }

        if (samples == 0)
        {
            throw new UsageException($"{source.Name} holds no samples.");
        }

        var left = producer.Flush(FlushTimeout);
        var chunks = seq - request.StartSeq;
        if (failures > 0 || left > 0)
        {
            output.Error.WriteLine($"error: {failures + left} of {Counted.Of(chunks, "chunk")} not delivered to {request.Topic} on {factory.Settings.BootstrapServers}" +
                (firstError is null ? $" within {FlushTimeout.TotalSeconds:0} s" : $": {firstError.Reason} ({firstError.Code})"));
            return ExitCodes.Failure;
        }

        var rate = source.SampleRate is { } hz ? $", {hz.ToString(CultureInfo.InvariantCulture)} Hz" : string.Empty;
        output.Out.WriteLine(
            $"Produced {Counted.Of(samples, "sample")} of '{request.StreamId}' as {Counted.Of(chunks, "chunk")} (seq {request.StartSeq}..{seq - 1}, " +
            $"{FormatName(request.Format)}{rate}) to {request.Topic} in {clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s.");
        return ExitCodes.Success;
    }

    /// <summary>The seqs of the first <paramref name="sent"/> chunks, and the --start-seq that continues the stream.</summary>
    private string WhereToGoOn(long sent)
        => $"(seq {request.StartSeq}..{request.StartSeq + sent - 1}); go on from seq {request.StartSeq + sent} (--start-seq {request.StartSeq + sent}).";

    public static string FormatName(SampleFormat format) => format switch
    {
        SampleFormat.Float64 => "f64",
        SampleFormat.Float32 => "f32",
        _ => "json",
    };

    private void Send(IProducer<byte[], byte[]> producer, double[] signal, long seq, double? sampleRate,
        Action<DeliveryReport<byte[], byte[]>> onDelivery, CancellationToken cancellationToken)
    {
        var chunk = new SampleChunk(request.StreamId, seq, signal, sampleRate, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) { Format = request.Format };
        Message<byte[], byte[]> message;
        try
        {
            message = SampleCodec.ToMessage(chunk);
        }
        catch (ArgumentException ex)
        {
            // e.g. an f32 record of a sample beyond the float range; the message without .NET's "(Parameter 'samples')"
            var reason = ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", "", StringComparison.Ordinal);
            throw new UsageException($"chunk seq {seq}: {reason}{(request.Format == SampleFormat.Float32 ? " Send it with --format f64 or json." : "")}");
        }

        cancellationToken.ThrowIfCancellationRequested();
        producer.ProduceWaitingForRoom(new TopicPartition(request.Topic, Partition.Any), message, onDelivery, TimeSpan.FromMilliseconds(100), cancellationToken);
    }

    private void Pace(Stopwatch clock, long samplesSent, CancellationToken cancellationToken)
    {
        if (request.Rate <= 0)
        {
            return;
        }

        TimeSpan due;
        while ((due = TimeSpan.FromSeconds(samplesSent / request.Rate) - clock.Elapsed) > TimeSpan.Zero)
        {
            cancellationToken.WaitHandle.WaitOne(due < LongestWait ? due : LongestWait);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
