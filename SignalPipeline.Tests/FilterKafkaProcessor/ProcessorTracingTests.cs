using System.Diagnostics;
using Confluent.Kafka;
using FilterKafkaProcessor;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The batch span of docs/processor.md's Telemetry section: its links to the producers' trace contexts, its tags once committed.</summary>
public sealed class ProcessorTracingTests
{
    [Fact]
    public void The_batch_span_links_the_trace_contexts_of_its_first_32_records_only()
    {
        // A topic name of this test's own: other tests may start batch spans while this listener listens.
        var topic = $"tracing-{Guid.NewGuid():N}";
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ProcessorTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.DisplayName == $"process {topic}")
                {
                    lock (spans)
                    {
                        spans.Add(activity);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        // 100 records, two of them traced: the first, and the 36th (past the 32 records looked at).
        var first = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var late = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var records = Enumerable.Range(0, 100).Select(i =>
        {
            var headers = new Headers();
            if (i is 0 or 35)
            {
                KafkaTracing.InjectTraceContext(headers, i == 0 ? first : late);
            }

            return new ConsumeResult<byte[], byte[]> { Message = new Message<byte[], byte[]> { Key = [], Value = [], Headers = headers } };
        }).ToList();

        ProcessorTelemetry.StartBatch(topic, records)!.Dispose();

        var span = Assert.Single(spans);
        Assert.Equal(ActivityKind.Consumer, span.Kind);
        Assert.Equal(100, span.GetTagItem("messaging.batch.message_count"));
        var link = Assert.Single(span.Links);
        Assert.Equal(first.TraceId, link.Context.TraceId);
        Assert.Equal(first.SpanId, link.Context.SpanId);
    }

    [Fact]
    public void Once_committed_the_batch_span_carries_its_chunks_and_dead_letters()
    {
        // The harness steps the stream thread on this thread: its batch spans are children of this one, which tells them
        // apart from the spans of other tests' processors.
        using var parent = new Activity("test").Start();
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ProcessorTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.ParentSpanId == parent.SpanId)
                {
                    lock (spans)
                    {
                        spans.Add(activity);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        using var harness = new ProcessorHarness();
        harness.Start();
        harness.Produce(ProcessorHarness.Chunk("t", 0), 0);
        harness.ProduceRaw("t", """{"stream_id":"t","seq":1,"signal":[1,2""", 0);
        harness.Produce(ProcessorHarness.Chunk("t", 1), 0);
        harness.StepUntil(() => harness.OutputCount("t") == 2 && harness.DeadLetters().Count == 1);

        lock (spans)
        {
            Assert.NotEmpty(spans);
            Assert.All(spans, span => Assert.Equal("process " + ProcessorHarness.Input, span.DisplayName));
            Assert.All(spans, span => Assert.Equal("kafka", span.GetTagItem("messaging.system")));
            Assert.Equal(2, spans.Sum(span => Assert.IsType<int>(span.GetTagItem("signalpipeline.chunks"))));
            Assert.Equal(1, spans.Sum(span => Assert.IsType<int>(span.GetTagItem("signalpipeline.dead_letters"))));
        }
    }
}
