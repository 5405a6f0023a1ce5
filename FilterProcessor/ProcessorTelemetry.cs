using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FilterProcessor;

/// <summary>
/// The processor's metrics (Meter "SignalPipeline.Processor") and batch spans (ActivitySource of the same name).
/// Totals are also kept as plain numbers for the periodic rate log line.
/// </summary>
public sealed class ProcessorTelemetry : IDisposable
{
    public const string Name = "SignalPipeline.Processor";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;
    private readonly Counter<long> _samples;
    private readonly Counter<long> _chunks;
    private readonly Histogram<double> _latency;
    private readonly Histogram<long> _batchSize;
    private readonly Counter<long> _deadLetters;
    private readonly Counter<long> _duplicates;
    private readonly Counter<long> _gaps;
    private readonly Counter<long> _skippedSeqs;
    private readonly Counter<long> _replayed;
    private readonly Counter<long> _aborts;
    private readonly Histogram<double> _restore;

    public ProcessorTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _samples = _meter.CreateCounter<long>("signalpipeline.processor.samples", "{sample}", "Samples filtered and written to the output topic.");
        _chunks = _meter.CreateCounter<long>("signalpipeline.processor.chunks", "{chunk}", "Chunks filtered and written to the output topic.");
        _latency = _meter.CreateHistogram<double>("signalpipeline.processor.latency", "ms", "End-to-end latency: commit time minus the chunk's timestamp_ms.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] });
        _batchSize = _meter.CreateHistogram<long>("signalpipeline.processor.batch.size", "{record}", "Input records per transaction.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000] });
        _deadLetters = _meter.CreateCounter<long>("signalpipeline.processor.dead_letters", "{record}", "Records sent to the dead-letter topic.");
        _duplicates = _meter.CreateCounter<long>("signalpipeline.processor.duplicates", "{chunk}", "Chunks dropped because their seq was already processed or held.");
        _gaps = _meter.CreateCounter<long>("signalpipeline.processor.gaps", "{gap}", "Times a stream skipped ahead over missing seqs.");
        _skippedSeqs = _meter.CreateCounter<long>("signalpipeline.processor.skipped_seqs", "{chunk}", "Seqs never processed because a gap was skipped.");
        _replayed = _meter.CreateCounter<long>("signalpipeline.processor.replayed", "{chunk}", "Chunks re-filtered after a restore whose output was already in the output topic (not written again).");
        _aborts = _meter.CreateCounter<long>("signalpipeline.processor.transactions.aborted", "{transaction}", "Transactions aborted (state reloaded, input rewound).");
        _restore = _meter.CreateHistogram<double>("signalpipeline.processor.restore.duration", "s", "Time to restore assigned partitions' state from the changelog.");
    }

    public long Samples;
    public long Chunks;
    public long DeadLetters;
    public long Duplicates;
    public long Gaps;
    public long Replayed;

    public void Filtered(int samples, double latencyMs)
    {
        _samples.Add(samples);
        _chunks.Add(1);
        _latency.Record(latencyMs);
        Interlocked.Add(ref Samples, samples);
        Interlocked.Increment(ref Chunks);
    }

    public void Batch(int records) => _batchSize.Record(records);

    public void DeadLetter(string code)
    {
        _deadLetters.Add(1, new KeyValuePair<string, object?>("error.code", code));
        Interlocked.Increment(ref DeadLetters);
    }

    public void Sequencing(long duplicates, long gaps, long skipped)
    {
        if (duplicates > 0)
        {
            _duplicates.Add(duplicates);
            Interlocked.Add(ref Duplicates, duplicates);
        }

        if (gaps > 0)
        {
            _gaps.Add(gaps);
            _skippedSeqs.Add(skipped);
            Interlocked.Add(ref Gaps, gaps);
        }
    }

    public void ReplayedChunk()
    {
        _replayed.Add(1);
        Interlocked.Increment(ref Replayed);
    }

    public void Aborted() => _aborts.Add(1);

    public void Restored(TimeSpan duration, int partitions)
        => _restore.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("partitions", partitions));

    public void Dispose() => _meter.Dispose();
}
