using Confluent.Kafka;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.State;
using FilterKafkaProcessor.Streaming;
using SignalPipeline.Filters;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>One bad chunk costs only itself: its stream is filtered as if it had not been there, the others as usual.</summary>
public sealed class BatchFilterTests
{
    private static readonly IReadOnlyDictionary<string, double> NoParams = new Dictionary<string, double>();

    [Fact]
    public async Task ANonFiniteOutputIsPoisonAndItsStreamGoesOnFromTheStateBeforeIt()
    {
        var partition = new PartitionState(0, 0, 0);
        var bad = new StreamState("bad");
        var good = new StreamState("good");
        partition.Add(bad, 0);
        partition.Add(good, 0);
        double[] a = [0.5, 0.25, -0.5], overflow = [1.7e308, -1.7e308, 1.7e308], b = [1, 2, 3];
        var work = new List<ChunkWork>
        {
            Work(partition, bad, 0, a),
            Work(partition, good, 0, b),
            Work(partition, bad, 1, overflow),
            Work(partition, bad, 2, b),
            Work(partition, good, 1, a),
        };

        await new BatchFilter(new LocalChunkFilterer("kalman", NoParams)).FilterAsync(work, CancellationToken.None);

        Assert.Equal([null, null, PoisonCodes.NonFiniteOutput, null, null], work.Select(w => w.Poison?.Code));
        AssertOutputs(work.Where(w => w.Stream == bad && w.Poison is null), [a, b]);
        AssertOutputs(work.Where(w => w.Stream == good), [b, a]);
    }

    /// <summary>
    /// Parameters alone can overflow: kalman with q = r = 1e308 makes p + q infinite at the second sample of any input,
    /// from a fresh filter too (so no restart). The reason names both causes; until 2026-12-05 it blamed the input alone.
    /// </summary>
    [Fact]
    public async Task ANonFiniteOutputFromTheParametersSaysTheParametersMayBeTheCause()
    {
        var huge = new Dictionary<string, double> { ["q"] = 1e308, ["r"] = 1e308 };
        var (partition, bad, _) = TwoStreams();
        var work = new List<ChunkWork> { Work(partition, bad, 0, [1, 2]) };

        var filter = new BatchFilter(new LocalChunkFilterer("kalman", huge));
        await filter.FilterAsync(work, CancellationToken.None);

        Assert.Equal(PoisonCodes.NonFiniteOutput, work[0].Poison?.Code);
        Assert.Equal("filtering seq 0 gave a non-finite output sample (the input's magnitude or the stream's filter parameters take its arithmetic beyond the range of a double)",
            work[0].Poison!.Value.Reason);
        Assert.Empty(filter.Restarts);
    }

    /// <summary>
    /// The same parameters over chunks of one sample (docs/filters.md, kalman): a fresh filter gives x0 with a finite state
    /// (p = 1e308), so the first is written as it is and each later one, NaN from the state carried over, restarts the
    /// filter and comes out x0 too: no dead letter, a restart counted for each.
    /// </summary>
    [Fact]
    public async Task OneSampleChunksUnderParametersThatOverflowEachRestartTheFilterAndComeOutX0()
    {
        var huge = new Dictionary<string, double> { ["q"] = 1e308, ["r"] = 1e308, ["x0"] = 0.25 };
        var (partition, bad, _) = TwoStreams();
        var work = new List<ChunkWork> { Work(partition, bad, 0, [1]), Work(partition, bad, 1, [2]), Work(partition, bad, 2, [3]) };

        var filter = new BatchFilter(new LocalChunkFilterer("kalman", huge));
        await filter.FilterAsync(work, CancellationToken.None);

        Assert.Equal([null, null, null], work.Select(w => w.Poison?.Code));
        Assert.Equal([("bad", 1L), ("bad", 2L)], filter.Restarts);
        Assert.Equal([0.25, 0.25, 0.25], work.Select(w => w.Output[0]));
    }

    /// <summary>
    /// A fresh lms over <c>[1e306]</c>: a finite output, a state that is not (FilterService answers such a call 422).
    /// Until 2026-12-05 the chunk passed and its state was checkpointed, which no restore takes: every later chunk of the
    /// stream failed (filter-failed) until it was evicted.
    /// </summary>
    [Fact]
    public async Task AChunkThatLeavesTheStateNotFiniteIsPoisonAndItsStreamGoesOnFromTheStateBeforeIt()
    {
        double[] huge = [1e306], a = [0.5, 0.25, -0.5], b = [1, 2, 3];
        var probe = FilterFactory.Create("lms");
        var output = new double[1];
        probe.Process(huge, output);
        Assert.True(double.IsFinite(output[0]), "the case needs a finite output with a state that is not");
        Assert.False(FilterFactory.HoldsOnlyFiniteValues(probe.SaveState()));

        var (partition, bad, good) = TwoStreams();
        var work = new List<ChunkWork>
        {
            Work(partition, bad, 0, huge),
            Work(partition, good, 0, b),
            Work(partition, bad, 1, a),
            Work(partition, good, 1, a),
        };

        var filter = new BatchFilter(new LocalChunkFilterer("lms", NoParams));
        await filter.FilterAsync(work, CancellationToken.None);

        Assert.Equal([PoisonCodes.NonFiniteOutput, null, null, null], work.Select(w => w.Poison?.Code));
        Assert.Equal("filtering seq 0 left the filter's state not finite, so no later chunk could be filtered from it (the input's magnitude or the stream's filter parameters take its arithmetic beyond the range of a double)",
            work[0].Poison!.Value.Reason);
        Assert.Empty(filter.Restarts);
        AssertOutputs(work.Where(w => w.Stream == bad && w.Poison is null), [a], "lms");
        AssertOutputs(work.Where(w => w.Stream == good), [b, a], "lms");
        Assert.True(FilterFactory.HoldsOnlyFiniteValues(bad.Filter.SaveState()!));
    }

    /// <summary>
    /// lms after <c>[0.5, 0.25, -0.5]</c> then <c>[1e306]</c>: outputs and state finite, but the huge sample stays in the
    /// taps and every next chunk comes out non-finite from that state. Until 2026-12-05 each was dead-lettered and rolled
    /// back, so the taps never moved on and the stream was lost; now its filter starts again at the next chunk.
    /// </summary>
    [Fact]
    public async Task AStateNoChunkCanFollowRestartsTheFilterAtTheNextChunkInsteadOfDeadLetteringEveryChunk()
    {
        double[] a = [0.5, 0.25, -0.5], huge = [1e306], b = [1, 2, 3], c = [-1, 0.5];
        var (partition, bad, good) = TwoStreams();
        var work = new List<ChunkWork>
        {
            Work(partition, bad, 0, a),
            Work(partition, bad, 1, huge),
            Work(partition, good, 0, b),
            Work(partition, bad, 2, b),
            Work(partition, bad, 3, c),
            Work(partition, good, 1, a),
        };

        var filter = new BatchFilter(new LocalChunkFilterer("lms", NoParams));
        await filter.FilterAsync(work, CancellationToken.None);

        Assert.Equal([null, null, null, null, null, null], work.Select(w => w.Poison?.Code));
        Assert.Equal([("bad", 2L)], filter.Restarts);
        AssertOutputs(work.Where(w => w.Stream == bad).Take(2), [a, huge], "lms");   // one filter up to the huge chunk
        AssertOutputs(work.Where(w => w.Stream == bad).Skip(2), [b, c], "lms");      // a fresh one from the next
        AssertOutputs(work.Where(w => w.Stream == good), [b, a], "lms");

        // The same from a fresh filter without the restart: the chunk after the huge one is not finite.
        var carried = FilterFactory.Create("lms");
        var scratch = new double[3];
        carried.Process(a, scratch);
        carried.Process(huge, scratch.AsSpan(0, 1));
        carried.Process(b, scratch);
        Assert.Contains(scratch, v => !double.IsFinite(v));
    }

    /// <summary>
    /// Remote mode: the service refuses (422) a chunk from the state carried over but takes it from a fresh one (the state
    /// the processor sends is null, or its config's initial one): the stream's filter starts again there, as locally.
    /// </summary>
    [Fact]
    public async Task ARemoteRefusalFromTheCarriedStateButNotFromAFreshOneRestartsTheFilter()
    {
        double[] a = [0.5, 0.25, -0.5], b = [1, 2, 3];
        var (partition, bad, _) = TwoStreams();
        var work = new List<ChunkWork> { Work(partition, bad, 0, a), Work(partition, bad, 1, b) };

        var filter = new BatchFilter(new RefusingCarriedStateFilterer(refused: 1));
        await filter.FilterAsync(work, CancellationToken.None);

        Assert.Equal([null, null], work.Select(w => w.Poison?.Code));
        Assert.Equal([("bad", 1L)], filter.Restarts);
        AssertOutputs(work.Take(1), [a]);
        AssertOutputs(work.Skip(1), [b]);
    }

    /// <summary>Kalman, except that an input starting with <paramref name="refused"/> is refused unless its stream starts fresh.</summary>
    private sealed class RefusingCarriedStateFilterer(double refused) : IChunkFilterer
    {
        private readonly LocalChunkFilterer _inner = new("kalman", NoParams);

        public async Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken)
        {
            foreach (var item in work)
            {
                if (item.Input.Span[0] == refused && !item.Stream.IsNew)
                {
                    throw new ChunkRefusedException("422: the filter's output is not finite", System.Net.HttpStatusCode.UnprocessableEntity);
                }

                await _inner.FilterAsync([item], cancellationToken);
            }
        }

        public bool IsChunkFault(Exception failure) => failure is ChunkRefusedException;
    }

    private static (PartitionState Partition, StreamState Bad, StreamState Good) TwoStreams()
    {
        var partition = new PartitionState(0, 0, 0);
        var bad = new StreamState("bad");
        var good = new StreamState("good");
        partition.Add(bad, 0);
        partition.Add(good, 0);
        return (partition, bad, good);
    }

    [Fact]
    public async Task AFilterThatThrowsPoisonsOnlyTheChunkThatMadeItThrow()
    {
        var partition = new PartitionState(0, 0, 0);
        var stream = new StreamState("s");
        partition.Add(stream, 0);
        double[] a = [1, 2], b = [3, 4], c = [5, 6];
        var work = new List<ChunkWork> { Work(partition, stream, 0, a), Work(partition, stream, 1, b), Work(partition, stream, 2, c) };

        await new BatchFilter(new ThrowingFilterer(onInput: 3)).FilterAsync(work, CancellationToken.None);

        Assert.Equal([null, PoisonCodes.FilterFailed, null], work.Select(w => w.Poison?.Code));
        Assert.Contains("seq 1", work[1].Poison!.Value.Reason);
        AssertOutputs(work.Where(w => w.Poison is null), [a, c]);
    }

    [Fact]
    public async Task ATransportFailureIsThrownForTheBatchToBeRetried()
    {
        var partition = new PartitionState(0, 0, 0);
        var stream = new StreamState("s");
        partition.Add(stream, 0);
        var filterer = new ThrowingFilterer(onInput: 1) { Transport = true };
        await Assert.ThrowsAsync<HttpRequestException>(() => new BatchFilter(filterer).FilterAsync([Work(partition, stream, 0, [1, 2])], CancellationToken.None));
    }

    private static ChunkWork Work(PartitionState partition, StreamState stream, long seq, double[] signal)
    {
        var chunk = new SampleChunk(stream.StreamId, seq, signal);
        var envelope = new ChunkEnvelope(seq, [], null, 0, chunk, new TopicPartitionOffset("sample-input", 0, seq));
        return new ChunkWork(partition, stream, envelope, new double[signal.Length]);
    }

    /// <summary>The outputs equal one kalman run over <paramref name="inputs"/>, bit for bit.</summary>
    private static void AssertOutputs(IEnumerable<ChunkWork> work, double[][] inputs, string algorithm = "kalman")
    {
        var reference = FilterFactory.Create(algorithm);
        foreach (var (item, input) in work.Zip(inputs, (w, i) => (w, i)))
        {
            var expected = new double[input.Length];
            reference.Process(input, expected);
            Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), item.Output.Take(input.Length).Select(BitConverter.DoubleToInt64Bits));
        }
    }

    /// <summary>Kalman, except that an input containing <c>onInput</c> throws (as a chunk fault, or as a transport failure).</summary>
    private sealed class ThrowingFilterer(double onInput) : IChunkFilterer
    {
        private readonly LocalChunkFilterer _inner = new("kalman", NoParams);

        public bool Transport { get; init; }

        public async Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken)
        {
            foreach (var item in work)
            {
                if (item.Input.Span.Contains(onInput))
                {
                    throw Transport ? new HttpRequestException("connection refused") : new InvalidOperationException("the filter broke");
                }

                await _inner.FilterAsync([item], cancellationToken);
            }
        }

        public bool IsChunkFault(Exception failure) => failure is InvalidOperationException;
    }
}
