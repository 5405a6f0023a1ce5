using SignalPipeline.Cli.Operations;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Audio;

/// <summary>
/// Writes one stream's filtered signal to a WAV file in seq order. A chunk whose seq was already written is a duplicate
/// (the dev broker shows records of aborted transactions; a real cluster's read_committed consumer does not) and is
/// skipped; a seq beyond the next expected one is written and counted as a gap (the processor skipped those seqs too).
/// </summary>
public sealed class WavStreamSink(string path, WavSampleFormat format, Func<FilteredChunk, int> sampleRateOf) : IDisposable
{
    private WavWriter? _writer;
    private long? _nextSeq;

    public long ChunksWritten { get; private set; }

    public long Duplicates { get; private set; }

    public long MissingSeqs { get; private set; }

    public int? SampleRate { get; private set; }

    public long SamplesWritten => _writer?.SamplesWritten ?? 0;

    /// <summary>Writes the chunk's filtered samples; false when it was a duplicate.</summary>
    public bool Add(FilteredChunk chunk)
    {
        if (_nextSeq is { } next && chunk.Seq < next)
        {
            Duplicates++;
            return false;
        }

        if (_nextSeq is { } expected && chunk.Seq > expected)
        {
            MissingSeqs += chunk.Seq - expected;
        }

        if (_writer is null)
        {
            SampleRate = sampleRateOf(chunk);
            _writer = new WavWriter(path, SampleRate.Value, format);
        }

        _writer.Write(chunk.FilteredSignal.Span);
        _nextSeq = chunk.Seq + 1;
        ChunksWritten++;
        return true;
    }

    public static WavSampleFormat ParseFormat(string text) => text switch
    {
        "float32" => WavSampleFormat.Float32,
        "pcm16" => WavSampleFormat.Pcm16,
        _ => throw new UsageException($"--wav-format '{text}' is not float32 or pcm16."),
    };

    public void Dispose() => _writer?.Dispose();
}
