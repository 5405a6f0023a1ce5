namespace SignalPipeline.Filters;

/// <summary>
/// The last <c>H</c> input samples of a stream. For processing, the history and a block of new samples are laid out
/// contiguously in a per-thread work buffer, so that every sample's tap window is one contiguous span:
/// buffer[0 .. H) is the history (oldest first) and the block's sample i sits at buffer[H + i].
/// Keeping the history in the state (not in the caller's chunk) is what makes chunked processing bit-identical to
/// whole-signal processing; copying the block also makes in-place calls (input and output the same memory) safe.
/// The work buffer is per thread, not per stream, so a stream's memory is its state alone.
/// </summary>
internal sealed class TapHistory(int length)
{
    public const int BlockSize = 1024;

    [ThreadStatic]
    private static double[]? t_work;

    private readonly double[] _history = new double[length];

    /// <summary>H: samples kept; oldest first, zeros before the stream's first sample.</summary>
    public int Length => length;

    /// <summary>The history, oldest first (for inspection).</summary>
    public ReadOnlySpan<double> History => _history;

    /// <summary>Feeds <paramref name="input"/> to the kernel block by block behind the history, advancing the history.</summary>
    public void Process<TKernel>(TKernel kernel, ReadOnlySpan<double> input, Span<double> output, long samplesProcessed)
        where TKernel : IBlockKernel
    {
        if (input.Length != output.Length)
        {
            throw new ArgumentException($"Output length {output.Length} differs from input length {input.Length}.", nameof(output));
        }

        if (input.IsEmpty)
        {
            return;
        }

        var work = t_work;
        if (work is null || work.Length < length + BlockSize)
        {
            work = t_work = new double[Math.Max(length + BlockSize, 2 * BlockSize)];
        }

        _history.CopyTo(work, 0);
        var offset = 0;
        while (offset < input.Length)
        {
            var block = Math.Min(input.Length - offset, BlockSize);
            input.Slice(offset, block).CopyTo(work.AsSpan(length));
            kernel.ProcessBlock(work, block, output.Slice(offset, block), samplesProcessed + offset);
            work.AsSpan(block, length).CopyTo(work);
            offset += block;
        }

        work.AsSpan(0, length).CopyTo(_history);
    }

    /// <summary>Whether every sample kept is finite (the inputs were: a library caller may pass NaN, the services do not).</summary>
    public bool IsFinite => FilterFactory.AllFinite(_history);

    public void WriteNewestFirst(ref StateWriter writer)
    {
        for (var j = length - 1; j >= 0; j--)
        {
            writer.Write(_history[j]);
        }
    }

    public void ReadNewestFirst(ref StateReader reader, long samplesProcessed)
    {
        for (var age = 0; age < length; age++)
        {
            var value = reader.Read("tap history");
            if (age >= samplesProcessed && value != 0)
            {
                throw new InvalidFilterStateException(
                    $"Filter state holds a non-zero tap z(n-{age + 1}) although only {samplesProcessed} samples were processed.");
            }

            _history[length - 1 - age] = value;
        }
    }
}

/// <summary>A filter's per-block loop over a <see cref="TapHistory"/> work buffer.</summary>
internal interface IBlockKernel
{
    /// <summary>
    /// Filters the <paramref name="count"/> samples at buffer[H ..] into <paramref name="output"/>;
    /// <paramref name="firstIndex"/> is the stream index of the block's first sample.
    /// </summary>
    void ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex);
}
