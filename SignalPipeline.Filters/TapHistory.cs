namespace SignalPipeline.Filters;

/// <summary>
/// The last <c>H</c> input samples of a stream, kept in front of a work buffer so that a block of new samples can be
/// appended behind them and every sample's tap window is one contiguous span: buffer[i .. i + H) precedes the block's
/// sample i, which sits at buffer[H + i]. Keeping the history in the state (not the caller's chunk) is what makes
/// chunked processing bit-identical to whole-signal processing; copying the block also makes in-place calls
/// (input and output the same memory) safe.
/// </summary>
internal sealed class TapHistory
{
    public const int BlockSize = 4096;

    public TapHistory(int length)
    {
        Length = length;
        Buffer = new double[length + BlockSize];
    }

    /// <summary>H: samples kept; buffer[0 .. H) oldest first, zeros before the stream's first sample.</summary>
    public int Length { get; }

    public double[] Buffer { get; }

    /// <summary>Feeds <paramref name="input"/> to the kernel block by block behind the history, advancing the history.</summary>
    public void Process<TKernel>(TKernel kernel, ReadOnlySpan<double> input, Span<double> output, long samplesProcessed)
        where TKernel : IBlockKernel
    {
        if (input.Length != output.Length)
        {
            throw new ArgumentException($"Output length {output.Length} differs from input length {input.Length}.", nameof(output));
        }

        var offset = 0;
        while (offset < input.Length)
        {
            var block = Load(input[offset..]);
            kernel.ProcessBlock(Buffer, block, output.Slice(offset, block), samplesProcessed + offset);
            Advance(block);
            offset += block;
        }
    }

    /// <summary>Copies up to <see cref="BlockSize"/> samples behind the history; returns how many.</summary>
    private int Load(ReadOnlySpan<double> input)
    {
        var count = Math.Min(input.Length, BlockSize);
        input[..count].CopyTo(Buffer.AsSpan(Length));
        return count;
    }

    /// <summary>After a block of <paramref name="count"/> samples: its last H samples become the history.</summary>
    private void Advance(int count) => Buffer.AsSpan(count, Length).CopyTo(Buffer);

    public void WriteNewestFirst(ref StateWriter writer)
    {
        for (var j = Length - 1; j >= 0; j--)
        {
            writer.Write(Buffer[j]);
        }
    }

    public void ReadNewestFirst(ref StateReader reader, long samplesProcessed)
    {
        for (var age = 0; age < Length; age++)
        {
            var value = reader.Read("tap history");
            if (age >= samplesProcessed && value != 0)
            {
                throw new InvalidFilterStateException(
                    $"Filter state holds a non-zero tap z(n-{age + 1}) although only {samplesProcessed} samples were processed.");
            }

            Buffer[Length - 1 - age] = value;
        }
    }
}

/// <summary>A filter's per-block loop over a <see cref="TapHistory"/> buffer.</summary>
internal interface IBlockKernel
{
    /// <summary>
    /// Filters the <paramref name="count"/> samples at buffer[H ..] into <paramref name="output"/>;
    /// <paramref name="firstIndex"/> is the stream index of the block's first sample.
    /// </summary>
    void ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex);
}
