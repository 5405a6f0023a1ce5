using SignalPipeline.Messages;

namespace SignalPipeline.Tests.FilterProcessor;

/// <summary>Its own app: the test kills one of the two processor replicas.</summary>
public sealed class ProcessorCrashTests(ProcessorCrashTests.Fixture fixture) : IClassFixture<ProcessorCrashTests.Fixture>
{
    public sealed class Fixture : ProcessorAppFixture;

    [Fact]
    public async Task KillingOneOfTwoReplicasMidStreamLosesAndDuplicatesNothing()
    {
        using var kit = await ProcessorTestKit.CreateAsync(fixture);
        await fixture.WaitForHealthyAsync(ProcessorAppFixture.Processor);
        var pids = await fixture.ProcessorPidsAsync(2, TimeSpan.FromSeconds(60));
        Assert.True(pids.Count == 2, $"Expected two running processor replicas, found {pids.Count}.");
        var from = kit.EndOffsets(ProcessorTestKit.OutputTopic);

        // Enough streams that both replicas own some of them (range assignment: 4 partitions each).
        var sent = Enumerable.Range(0, 10)
            .Select(s => ProcessorTestKit.StreamId($"crash-{s}"))
            .ToDictionary(s => s, s => Enumerable.Range(0, 160).Select(seq => ProcessorTestKit.Chunk(s, seq, 128, seq % 3 == 0 ? SampleFormat.Json : SampleFormat.Float64)).ToList());
        var producing = Task.Run(async () =>
        {
            for (var seq = 0; seq < 160; seq++)
            {
                foreach (var (_, chunks) in sent)
                {
                    kit.Produce(chunks[seq]);
                }

                await Task.Delay(50);
            }

            kit.Flush();
        });

        // Mid-stream: outputs are flowing when one replica dies.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var victim = pids.First();
        ProcessorAppFixture.KillProcessTree(victim.Value);

        await producing.WaitAsync(TimeSpan.FromMinutes(2));
        var records = await kit.ReadAsync(from, r => ProcessorTestKit.Complete(r, sent.ToDictionary(s => s.Key, s => s.Value.Count)), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(5));
        var outputs = ProcessorTestKit.Outputs(records, sent.Keys);
        foreach (var (streamId, chunks) in sent)
        {
            ProcessorTestKit.AssertEqualsReference("kalman", chunks, outputs[streamId]);
        }
    }
}
