using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>Its own app: the test kills one of the two processor replicas.</summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class ProcessorCrashTests(ProcessorCrashTests.Fixture shared, ITestOutputHelper output) : IClassFixture<ProcessorCrashTests.Fixture>
{
    private readonly Fixture fixture = shared.WithTestOutput(output);
    public sealed class Fixture : ProcessorAppFixture;

    private const int Streams = 10;
    private const int MaxRounds = 600;

    [Fact]
    public async Task KillingOneOfTwoReplicasMidStreamLosesAndDuplicatesNothing()
    {
        using var kit = await ProcessorTestKit.CreateAsync(fixture);
        await fixture.WaitForHealthyAsync(ProcessorAppFixture.Processor);
        var pids = await fixture.ProcessorPidsAsync(2, TimeSpan.FromSeconds(60));
        Assert.True(pids.Count == 2, $"Expected two running processor replicas, found {pids.Count}.");
        var from = kit.EndOffsets(ProcessorTestKit.OutputTopic);

        // Both replicas own some of the streams (range assignment: 4 of the 8 partitions each): stream i goes to partition
        // i % 8. Left to the key hash, ten random ids all fell in one replica's half about one run in 500.
        var streams = Enumerable.Range(0, Streams).Select(s => ProcessorTestKit.StreamId($"crash-{s}")).ToList();
        var partitionOf = streams.Select((s, i) => (s, i)).ToDictionary(x => x.s, x => x.i % 8);
        var sent = streams.ToDictionary(s => s, _ => new List<SampleChunk>());
        using var stopProducing = new CancellationTokenSource();
        var producing = Task.Run(async () =>
        {
            for (var seq = 0; seq < MaxRounds && !stopProducing.IsCancellationRequested; seq++)
            {
                foreach (var streamId in streams)
                {
                    var chunk = ProcessorTestKit.Chunk(streamId, seq, 128, seq % 3 == 0 ? SampleFormat.Json : SampleFormat.Float64);
                    sent[streamId].Add(chunk);
                    kit.ProduceTo(partitionOf[streamId], chunk);
                }

                await Task.Delay(50);
            }

            kit.Flush();
        });

        // Mid-stream: every stream (so both replicas) has output flowing when one replica dies.
        var progress = await kit.ReadAsync(from, ProcessorTestKit.Complete(streams.ToDictionary(s => s, _ => 20)), TimeSpan.FromMinutes(2), TimeSpan.Zero);
        Assert.True(ProcessorTestKit.Complete(streams.ToDictionary(s => s, _ => 20))(progress), "Output did not start flowing for every stream.");
        var partitions = progress.Select(r => r.Partition.Value).Distinct().ToList();
        Assert.True(partitions.Any(p => p < 4) && partitions.Any(p => p >= 4), $"The streams should land on both replicas' partitions, got [{string.Join(",", partitions)}].");

        var victim = pids.First();
        var roundsAtKill = sent[streams[0]].Count;
        ProcessorAppFixture.KillProcessTree(victim.Value);

        // The victim is dead as DCP sees it, and production goes on past the survivor's takeover (rebalance), instead
        // of a fixed pause that asserted neither.
        await fixture.App.ResourceNotifications.WaitForResourceAsync(ProcessorAppFixture.Processor,
            e => e.ResourceId == victim.Key && e.Snapshot.State?.Text is not ("Running" or "Starting")).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Throws<ArgumentException>(() => System.Diagnostics.Process.GetProcessById(victim.Value).Dispose());
        await Poll.UntilAsync(() => sent[streams[0]].Count >= roundsAtKill + 40 || producing.IsCompleted, TimeSpan.FromMinutes(1),
            () => $"40 rounds produced after the kill, {sent[streams[0]].Count - roundsAtKill} so far");
        Assert.False(producing.IsCompleted, "Production ended before the survivor took over: the kill was not mid-stream.");
        await stopProducing.CancelAsync();
        await producing.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(sent[streams[0]].Count < MaxRounds, "The streams ended before the kill.");

        var records = await kit.ReadAsync(from, ProcessorTestKit.Complete(sent.ToDictionary(s => s.Key, s => s.Value.Count)), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(5));
        var outputs = ProcessorTestKit.Outputs(records, sent.Keys);
        foreach (var (streamId, chunks) in sent)
        {
            ProcessorTestKit.AssertEqualsReference("kalman", chunks, outputs[streamId]);
        }
    }
}
