using System.Diagnostics;
using Confluent.Kafka;
using FilterKafkaProcessor;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The batch span of docs/processor.md's Telemetry section: its links to the producers' trace contexts.</summary>
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
}
