using System.Diagnostics;

namespace FilterKafkaProcessor.Streaming;

/// <summary>The periodic <c>Rate:</c> log line: throughput since the last line and the totals (docs/processor.md).</summary>
public sealed class RateLog(ProcessorTelemetry telemetry, ILogger logger, int seconds)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _samples;
    private long _chunks;
    private long _transactions;
    private long _commitMicros;
    private long _waitMicros;

    public void MaybeLog(Func<string> ownership)
    {
        if (seconds <= 0 || _clock.Elapsed.TotalSeconds < seconds)
        {
            return;
        }

        var samples = Interlocked.Read(ref telemetry.Samples);
        var chunks = Interlocked.Read(ref telemetry.Chunks);
        var transactions = Interlocked.Read(ref telemetry.Transactions);
        var commitMicros = Interlocked.Read(ref telemetry.CommitMicros);
        var waitMicros = Interlocked.Read(ref telemetry.CommitWaitMicros);
        var elapsed = _clock.Elapsed.TotalSeconds;
        var committed = Math.Max(transactions - _transactions, 1);
        logger.LogInformation(
            "Rate: {SamplesPerSecond:F0} samples/s, {ChunksPerSecond:F0} chunks/s, {TransactionsPerSecond:F0} transactions/s over {Seconds:F1} s (a commit {CommitMs:F1} ms, the stream thread waiting {WaitMs:F1} ms of it); {Ownership}; totals: {Chunks} chunks, {DeadLetters} dead letters, {Duplicates} duplicates, {Gaps} gaps, {Replayed} replayed, {Aborts} aborted transactions",
            (samples - _samples) / elapsed, (chunks - _chunks) / elapsed, (transactions - _transactions) / elapsed, elapsed,
            (commitMicros - _commitMicros) / 1000.0 / committed, (waitMicros - _waitMicros) / 1000.0 / committed, ownership(),
            chunks, telemetry.DeadLetters, telemetry.Duplicates, telemetry.Gaps, telemetry.Replayed, telemetry.Aborts);
        (_samples, _chunks, _transactions, _commitMicros, _waitMicros) = (samples, chunks, transactions, commitMicros, waitMicros);
        _clock.Restart();
    }
}
