using System.Diagnostics;

namespace FilterKafkaProcessor.Streaming;

/// <summary>The periodic <c>Rate:</c> log line: throughput since the last line and the totals (docs/processor.md).</summary>
public sealed class RateLog(ProcessorTelemetry telemetry, ILogger logger, int seconds)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _samples;
    private long _chunks;
    private long _transactions;

    public void MaybeLog(Func<string> ownership)
    {
        if (seconds <= 0 || _clock.Elapsed.TotalSeconds < seconds)
        {
            return;
        }

        var samples = Interlocked.Read(ref telemetry.Samples);
        var chunks = Interlocked.Read(ref telemetry.Chunks);
        var transactions = Interlocked.Read(ref telemetry.Transactions);
        var elapsed = _clock.Elapsed.TotalSeconds;
        logger.LogInformation(
            "Rate: {SamplesPerSecond:F0} samples/s, {ChunksPerSecond:F0} chunks/s, {TransactionsPerSecond:F0} transactions/s over {Seconds:F1} s; {Ownership}; totals: {Chunks} chunks, {DeadLetters} dead letters, {Duplicates} duplicates, {Gaps} gaps, {Replayed} replayed, {Aborts} aborted transactions",
            (samples - _samples) / elapsed, (chunks - _chunks) / elapsed, (transactions - _transactions) / elapsed, elapsed, ownership(),
            chunks, telemetry.DeadLetters, telemetry.Duplicates, telemetry.Gaps, telemetry.Replayed, telemetry.Aborts);
        (_samples, _chunks, _transactions) = (samples, chunks, transactions);
        _clock.Restart();
    }
}
