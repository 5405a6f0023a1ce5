using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// The AppHost with <c>FilterKafkaProcessor:Mode=remote</c>: chunks are filtered by the algorithm services through
/// <c>filter-gateway</c>. Equal to the library reference bit for bit, as local mode is (FilterKafkaProcessorTests), so the
/// two modes give identical output.
/// </summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class ProcessorRemoteModeTests(ProcessorRemoteModeTests.Fixture shared, ITestOutputHelper output) : IClassFixture<ProcessorRemoteModeTests.Fixture>
{
    private readonly Fixture fixture = shared.WithTestOutput(output);
    public sealed class Fixture : ProcessorAppFixture
    {
        protected override string[] ExtraArgs => ["FilterKafkaProcessor:Mode=remote"];
    }

    [Fact]
    public async Task RemoteModeThroughTheGatewayEqualsTheReference()
    {
        using var kit = await ProcessorTestKit.CreateAsync(fixture);
        await fixture.WaitForHealthyAsync("filter-gateway");
        await fixture.WaitForHealthyAsync(ProcessorAppFixture.Processor);
        var from = kit.EndOffsets(ProcessorTestKit.OutputTopic);

        var sent = Enumerable.Range(0, 6)
            .Select(s => ProcessorTestKit.StreamId($"remote-{s}"))
            .Select((s, i) => (Id: s, Format: i % 2 == 0 ? SampleFormat.Json : SampleFormat.Float64))
            .ToDictionary(s => s.Id, s => Enumerable.Range(0, 15).Select(seq => ProcessorTestKit.Chunk(s.Id, seq, 256, s.Format)).ToList());
        for (var seq = 0; seq < 15; seq++)
        {
            foreach (var (_, chunks) in sent)
            {
                kit.Produce(chunks[seq]);
            }
        }

        kit.Flush();
        var records = await kit.ReadAsync(from, ProcessorTestKit.Complete(sent.ToDictionary(s => s.Key, s => s.Value.Count)), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(3));
        var outputs = ProcessorTestKit.Outputs(records, sent.Keys);
        foreach (var (streamId, chunks) in sent)
        {
            ProcessorTestKit.AssertEqualsReference("kalman", chunks, outputs[streamId]);
        }
    }
}
