using FilterKafkaProcessor.Streaming;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The batch's decodes and encodes beside the stream thread (<c>Processor:CodecThreads</c>, issue 14).</summary>
public sealed class CodecWorkersTests
{
    [Fact]
    public void WorkWorthTheHandOffRunsOnTwoThreadsAtOnceAndEveryIndexOnce()
    {
        var workers = new CodecWorkers(2);
        var visits = new int[1000];
        using var both = new CountdownEvent(2);
        var threads = new HashSet<int>();

        workers.For(visits.Length, CodecWorkers.MinParallelCost, visits, (v, i) =>
        {
            Interlocked.Increment(ref v[i]);
            if (i is 0 or 500)
            {
                // The first index of each half waits for the other: inline, the first would wait alone and time out.
                both.Signal();
                Assert.True(both.Wait(TimeSpan.FromSeconds(20)), "The two halves did not run at the same time.");
                lock (threads)
                {
                    threads.Add(Environment.CurrentManagedThreadId);
                }
            }
        });

        Assert.All(visits, count => Assert.Equal(1, count));
        Assert.Equal(2, threads.Count);
    }

    [Fact]
    public void SmallWorkRunsInlineOnTheCallingThread()
    {
        var workers = new CodecWorkers(4);
        var caller = Environment.CurrentManagedThreadId;
        var others = 0;

        workers.For(1000, CodecWorkers.MinParallelCost - 1, 0, (_, _) => others += Environment.CurrentManagedThreadId == caller ? 0 : 1);

        Assert.Equal(0, others);
    }

    [Fact]
    public void AFailureOnAWorkerSurfacesAsItselfNotAsAnAggregate()
    {
        var workers = new CodecWorkers(2);

        var e = Assert.Throws<InvalidOperationException>(() => workers.For(100, CodecWorkers.MinParallelCost, 0, (_, i) =>
        {
            if (i == 75)
            {
                throw new InvalidOperationException("seq 75");
            }
        }));

        Assert.Equal("seq 75", e.Message);
    }

    [Theory]
    [InlineData("""{"stream_id":"a"}""", 17)]
    [InlineData("\u0001\u0002", 0)]
    public void JsonBytesCostTheirLengthBinaryBytesAThirtySecond(string value, long cost)
        => Assert.Equal(cost, CodecWorkers.Cost(System.Text.Encoding.UTF8.GetBytes(value)));

    [Fact]
    public void JsonBatchesCodedOnFourThreadsEqualOneFilterRunAndAPoisonRecordCostsOnlyItself()
    {
        using var harness = new ProcessorHarness(configure: o => (o.CodecThreads, o.MaxHeldChunks) = (4, 0));
        harness.Start();
        string[] streams = ["a", "b", "c", "d", "e", "f"];

        // 6 streams x 8 chunks of 512 full-precision samples: ~480 KB of JSON, far above the hand-off bar in one batch.
        var sent = streams.ToDictionary(s => s, s => Enumerable.Range(0, 8).Select(seq => ProcessorHarness.Chunk(s, seq, samples: 512, format: SampleFormat.Json)).ToList());
        for (var seq = 0; seq < 8; seq++)
        {
            for (var s = 0; s < streams.Length; s++)
            {
                harness.Produce(sent[streams[s]][seq], s % 4);
            }

            if (seq == 4)
            {
                harness.ProduceRaw("c", """{"stream_id":"c","seq":99,"signal":[1,2""", 2);
            }
        }

        harness.StepUntil(() => streams.All(s => harness.OutputCount(s) == 8));

        var outputs = harness.Outputs();
        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, outputs[stream]);
            Assert.All(outputs[stream], chunk => Assert.Equal(SampleFormat.Json, chunk.Format));
        }

        Assert.Equal([("c", "malformed-json")], harness.DeadLetters().Select(d => (d.Key, d.Code)));
    }
}
