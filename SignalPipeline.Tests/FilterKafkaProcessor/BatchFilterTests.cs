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
    private static void AssertOutputs(IEnumerable<ChunkWork> work, double[][] inputs)
    {
        var reference = FilterFactory.Create("kalman");
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
