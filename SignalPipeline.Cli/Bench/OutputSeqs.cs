namespace SignalPipeline.Cli.Bench;

/// <summary>What one output record was, for its stream.</summary>
public enum SeqOutcome
{
    /// <summary>The stream's next seq: as it should be.</summary>
    Next,

    /// <summary>A seq already seen.</summary>
    Duplicate,

    /// <summary>A later seq than the next: the ones between never came out before it.</summary>
    Gap,
}

/// <summary>
/// Which seqs of each stream came out of <c>sample-output</c>. A stream's records come out in seq order (one stream
/// stays on one input partition, hence one output partition, read in order), so "every seq exactly once" means every
/// record is its stream's next seq: one counter per stream checks it for any number of seqs. Written by one watcher
/// thread, read by others.
/// </summary>
public sealed class OutputSeqs(int streams)
{
    private readonly long[] _next = new long[streams];

    public SeqOutcome Record(int stream, long seq)
    {
        var next = _next[stream];
        if (seq < next)
        {
            return SeqOutcome.Duplicate;
        }

        Volatile.Write(ref _next[stream], seq + 1);
        return seq == next ? SeqOutcome.Next : SeqOutcome.Gap;
    }

    /// <summary>Whether <paramref name="seq"/> of the stream (or a later one) came out.</summary>
    public bool Has(int stream, long seq) => Volatile.Read(ref _next[stream]) > seq;

    /// <summary>Streams whose seqs 0..<paramref name="seqs"/>−1 did not all come out.</summary>
    public int StreamsShort(long seqs)
    {
        var count = 0;
        for (var stream = 0; stream < _next.Length; stream++)
        {
            count += Volatile.Read(ref _next[stream]) < seqs ? 1 : 0;
        }

        return count;
    }
}
