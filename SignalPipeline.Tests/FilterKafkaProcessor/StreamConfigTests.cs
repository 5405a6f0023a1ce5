using System.Diagnostics.Metrics;
using System.Text;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Inspection;
using FilterKafkaProcessor.Streaming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using SignalPipeline.Filters;
using SignalPipeline.Tests.FilterKafkaProcessor.Fakes;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>Per-stream filters from the stream-config topic: switched exactly once, refused entries dead-lettered, state on view.</summary>
public sealed class StreamConfigTests
{
    private const string Rls = """{"algorithm":"rls","params":{"order":4,"lambda":0.995}}""";

    private const string Lms = """{"algorithm":"lms","params":{"order":8,"mu":0.05}}""";

    [Fact]
    public void TheTableAtMaxStreamConfigsKeepsNoNewStreamButAppliesUpdatesAndTombstones()
    {
        using var meters = new TestMeterFactory();
        using var telemetry = new ProcessorTelemetry(meters);
        using var held = DocumentedMetric.Collect<long>(meters, ProcessorTelemetry.Name, "signalpipeline.processor.stream_configs")
            .AssertDocumented(typeof(ObservableGauge<>), "{entry}");
        using var refused = DocumentedMetric.Collect<long>(meters, ProcessorTelemetry.Name, "signalpipeline.processor.stream_configs.refused")
            .AssertDocumented(typeof(Counter<>), "{record}");
        var table = new StreamConfigTable(StreamFilterConfig.Create("kalman", null), maxEntries: 2, telemetry);
        Assert.False(table.Apply("a", 0, 0, Encoding.UTF8.GetBytes(Rls)).NotKept);
        Assert.False(table.Apply("b", 0, 1, "not json"u8.ToArray()).NotKept); // a refused entry is held, so it counts

        // Full: a new stream's record is left out; the stream has no entry, so it runs the default.
        var left = table.Apply("c", 0, 2, Encoding.UTF8.GetBytes(Rls));
        Assert.Equal((null, true), (left.Entry, left.NotKept));
        Assert.Null(table.Find("c"));

        // An update of a held entry and a tombstone are applied, full or not; the tombstone frees room for the next new stream.
        Assert.Equal("lms", table.Apply("a", 0, 3, Encoding.UTF8.GetBytes(Lms)).Entry?.Config?.Algorithm);
        Assert.Equal(3, table.Find("a")?.Offset);
        var removed = table.Apply("b", 0, 4, null);
        Assert.Equal((null, false), (removed.Entry, removed.NotKept));
        Assert.Null(table.Find("b"));
        Assert.Null(table.Find("c")); // a record left out is not remembered: the freed room does not bring it back
        Assert.False(table.Apply("c", 0, 5, Encoding.UTF8.GetBytes(Rls)).NotKept);

        // A value over MaxEntryBytes for a held stream: refused, held without its value, in the same place.
        Assert.NotNull(table.Apply("a", 0, 6, new byte[StreamConfigTable.MaxEntryBytes + 1]).Entry?.Error);

        Assert.Equal(["a", "c"], table.Entries.Select(e => e.StreamId).Order());
        Assert.Equal((2, 2L, 1L), (table.Count, held.Observe(), table.NotKept));
        Assert.Equal((1, 1, 1), (refused.Sum(("reason", "too-many-entries")), refused.Sum(("reason", "invalid")), refused.Sum(("reason", "too-large"))));
    }

    [Fact]
    public void PastMaxStreamConfigsANewStreamsEntryIsNotKeptItRunsTheDefaultAndTheWarningNamesTheSetting()
    {
        // Written before the instance starts, as at a restart with the limit lowered below what the topic holds: the
        // reader keeps the first two streams it reads. Eleven records of new streams are left out: logged at the 1st and
        // the 10th, counted each.
        using var kit = new StreamConfigKit(partitions: 1, o => o.MaxStreamConfigs = 2);
        using var refused = DocumentedMetric.Collect<long>(kit.Harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.stream_configs.refused");
        using var held = DocumentedMetric.Collect<long>(kit.Harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.stream_configs");
        kit.Configure("a", Rls);
        kit.Configure("b", Rls);
        kit.Configure("c", Rls);
        for (var i = 0; i < 10; i++)
        {
            kit.Configure($"n{i}", Rls);
        }

        kit.Configure("a", Lms); // an update of a held entry, while full: applied
        var log = new FakeLogger();
        var instance = kit.Start("one", readerLog: log);
        var a = StreamConfigKit.Chunks("a", 0, 3);
        var c = StreamConfigKit.Chunks("c", 0, 6);
        kit.Produce(a);
        kit.Produce(c[..3]);
        kit.StepUntil(() => kit.Harness.OutputCount("a") == 3 && kit.Harness.OutputCount("c") == 3, instance);

        StreamConfigKit.AssertFiltered(FilterFactory.Create("lms", new Dictionary<string, double> { ["order"] = 8, ["mu"] = 0.05 }), a, kit.Harness.Outputs()["a"]);
        StreamConfigKit.AssertFiltered(FilterFactory.Create("kalman"), c[..3], kit.Harness.Outputs()["c"]); // no entry kept: the default
        Assert.Empty(kit.Harness.DeadLetters());
        Assert.Equal((11, 2L), (refused.Sum(("reason", "too-many-entries")), held.Observe()));
        var warnings = log.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning).Select(r => r.Message).ToList();
        Assert.Equal(3, warnings.Count);
        Assert.StartsWith("Stream-config record for c at stream-config [[0]] @2 is not kept: this instance holds Processor:MaxStreamConfigs = 2 entries, "
            + "so the stream runs the deployment default (records of streams without an entry not kept so far: 1;", warnings[0], StringComparison.Ordinal);
        Assert.StartsWith("Stream-config record for n8 at stream-config [[0]] @11 is not kept", warnings[1], StringComparison.Ordinal);
        Assert.Contains("not kept so far: 10;", warnings[1], StringComparison.Ordinal);
        Assert.Equal("Stream configs read: 2 entries (0 refused); 11 records of streams without an entry were not kept, "
            + "as the table held Processor:MaxStreamConfigs = 2 entries: those streams run the deployment default", warnings[2]);

        // The documented way back: a tombstone frees room and the entry is written again; the stream switches at its next chunk.
        kit.Configure("b", null);
        kit.Configure("c", Rls);
        instance.Reader.Poll(TimeSpan.Zero);
        kit.Produce(c[3..]);
        kit.StepUntil(() => kit.Harness.OutputCount("c") == 6, instance);
        StreamConfigKit.AssertFiltered(StreamFilterConfig.Parse(Encoding.UTF8.GetBytes(Rls)).NewFilter(), c[3..], kit.Harness.Outputs()["c"][3..]);
        Assert.Equal((11, 2L), (refused.Sum(("reason", "too-many-entries")), held.Observe()));
    }

    [Fact]
    public async Task ASwitchWhoseTransactionNeverCommitsIsMadeAgainByTheNextOwnerAtTheSameSeq()
    {
        using var kit = new StreamConfigKit(partitions: 2);
        var zombie = kit.Start("zombie");
        var sent = StreamConfigKit.Chunks("sw", 0, 8);
        var neighbour = StreamConfigKit.Chunks("kept", 0, 8);
        kit.Produce(sent[..4]);
        kit.Produce(neighbour[..4]);
        kit.StepUntil(() => kit.Harness.OutputCount("sw") == 4 && kit.Harness.OutputCount("kept") == 4, zombie);

        // The config changes; the owner switches at its next chunk (seq 4), writes rls output in its transaction and
        // freezes before sending its offsets; its session expires and the next owner takes the partition over.
        kit.Configure("sw", Rls);
        zombie.Reader.Poll(TimeSpan.Zero);
        kit.Produce(sent[4..]);
        kit.Produce(neighbour[4..]);
        var stall = kit.Harness.Cluster.Faults.Stall(FaultPoint.SendOffsets, c => c.Owner?.EndsWith("zombie", StringComparison.Ordinal) == true);
        var frozen = Task.Run(() => zombie.Thread.Step(CancellationToken.None));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        kit.Harness.Cluster.ExpireMember(kit.Harness.Supplier.Consumers[0]);
        var owner = kit.Start("owner");
        var offsets = () => kit.Harness.Cluster.CommittedOffsets(global::FilterKafkaProcessor.ProcessorOptions.ConsumerGroup).Values.Sum();
        kit.StepUntil(() => offsets() == 16, owner);
        stall.Release();
        await frozen.WaitAsync(TimeSpan.FromSeconds(30));
        kit.StepUntil(() => kit.Harness.OutputCount("sw") == 8 && kit.Harness.OutputCount("kept") == 8, zombie, owner);

        // kalman over seq 0..3, then rls from its initial state over 4..7: each seq once, bit for bit.
        var output = kit.Harness.Outputs();
        StreamConfigKit.AssertFiltered(FilterFactory.Create("kalman"), sent[..4], output["sw"][..4]);
        StreamConfigKit.AssertFiltered(StreamFilterConfig.Parse(System.Text.Encoding.UTF8.GetBytes(Rls)).NewFilter(), sent[4..], output["sw"][4..]);
        ProcessorHarness.AssertReference(neighbour, output["kept"]);
        Assert.True(kit.Harness.Telemetry.Aborts >= 1, "The zombie's transaction should have been aborted.");
        Assert.Equal(1, kit.Harness.Telemetry.ConfigSwitches); // the zombie's switch was never committed

        var checkpoint = kit.LastCheckpoint("sw");
        Assert.Equal(4, checkpoint.Setting?.SwitchSeq);
        Assert.Equal("rls", checkpoint.Setting?.Config?.Algorithm);
    }

    [Fact]
    public void StreamsWithDifferentAlgorithmsShareAPartitionAndEachGetsItsOwnFilter()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure("a", Rls);
        kit.Configure("b", """{"algorithm":"lms","params":{"order":8,"mu":0.05}}""");
        kit.Configure("c", """{"algorithm":"ls","params":{"window":9}}""");
        var instance = kit.Start("one");
        var sent = new[] { "a", "b", "c", "d" }.ToDictionary(s => s, s => StreamConfigKit.Chunks(s, 0, 6));
        for (var seq = 0; seq < 6; seq++)
        {
            kit.Produce(sent.Values.Select(chunks => chunks[seq]));
        }

        kit.StepUntil(() => sent.Keys.All(s => kit.Harness.OutputCount(s) == 6), instance);

        var output = kit.Harness.Outputs();
        StreamConfigKit.AssertFiltered(FilterFactory.Create("rls", new Dictionary<string, double> { ["order"] = 4, ["lambda"] = 0.995 }), sent["a"], output["a"]);
        StreamConfigKit.AssertFiltered(FilterFactory.Create("lms", new Dictionary<string, double> { ["order"] = 8, ["mu"] = 0.05 }), sent["b"], output["b"]);
        StreamConfigKit.AssertFiltered(FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 9 }), sent["c"], output["c"]);
        StreamConfigKit.AssertFiltered(FilterFactory.Create("kalman"), sent["d"], output["d"]); // no entry: the deployment default
    }

    [Fact]
    public void AnInvalidEntryIsDeadLetteredOnceAndTheStreamKeepsItsFilter()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure("s", Rls);
        var first = kit.Start("first");
        var sent = StreamConfigKit.Chunks("s", 0, 9);
        kit.Produce(sent[..3]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 3, first);

        kit.Configure("s", """{"algorithm":"rls","params":{"order":0}}""");
        kit.Produce(sent[3..6]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 6, first);

        // A restart reads the same refused entry again: the checkpoint says it was dealt with, so no second dead letter.
        kit.Harness.Cluster.ExpireMember(kit.Harness.Supplier.Consumers[0]);
        var second = kit.Start("second");
        kit.Produce(sent[6..]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 9, second);

        var letter = Assert.Single(kit.Harness.DeadLetters());
        Assert.Equal(("s", BatchFilter.InvalidStreamConfig), (letter.Key, letter.Code));
        Assert.Equal("""stream-config entry for 's' refused: Parameter 'order' must be an integer in [1, 64]; got 0.; the stream keeps {"algorithm":"rls","params":{"order":4,"lambda":0.995,"delta":0.01}}""",
            letter.Reason); // docs/messages.md, "Stream configuration"
        StreamConfigKit.AssertFiltered(FilterFactory.Create("rls", new Dictionary<string, double> { ["order"] = 4, ["lambda"] = 0.995 }), sent, kit.Harness.Outputs()["s"]);
    }

    [Fact]
    public void AnEntryOverMaxEntryBytesIsRefusedWithoutItsValueAndAKeyLongerThanAStreamIdIsNotHeld()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure("s", Rls);
        var instance = kit.Start("one");
        var sent = StreamConfigKit.Chunks("s", 0, 6);
        kit.Produce(sent[..3]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 3, instance);

        // Valid JSON padded past the bound: every instance would hold it whole.
        var padded = """{"algorithm":"kalman","params":{}}""" + new string(' ', StreamConfigTable.MaxEntryBytes);
        kit.Configure("s", padded);
        kit.Configure(new string('k', StreamConfigTable.MaxStreamIdBytes + 1), Rls);
        kit.Produce(sent[3..]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 6, instance);

        var letter = Assert.Single(kit.Harness.DeadLetters());
        Assert.Equal(("s", BatchFilter.InvalidStreamConfig), (letter.Key, letter.Code));
        Assert.Equal($$$"""stream-config entry for 's' refused: the value is {{{Encoding.UTF8.GetByteCount(padded)}}} bytes, over the {{{StreamConfigTable.MaxEntryBytes}}} a stream-config entry may take (not kept); the stream keeps {"algorithm":"rls","params":{"order":4,"lambda":0.995,"delta":0.01}}""",
            letter.Reason); // docs/messages.md, "Stream configuration"
        var record = Assert.Single(kit.Harness.Cluster.ReadCommitted(ProcessorHarness.Dlq));
        Assert.NotNull(record.Message.Value); // empty, not null: a null value is a tombstone on a compacted topic
        Assert.Empty(record.Message.Value);
        Assert.Equal(["s"], instance.Table.Entries.Select(e => e.StreamId));
        Assert.Empty(instance.Table.Find("s")!.Value);
        StreamConfigKit.AssertFiltered(FilterFactory.Create("rls", new Dictionary<string, double> { ["order"] = 4, ["lambda"] = 0.995 }), sent, kit.Harness.Outputs()["s"]);
    }

    [Theory]
    [InlineData(false)] // a fetch refused: Consume throws
    [InlineData(true)] // the topic refused in metadata: librdkafka tells the error callback only
    public void AReaderRefusedTheTopicForWantOfAnACLWhileCatchingUpStopsTheServiceNamingTheACL(bool callback)
    {
        // Before 2026-12-07: "Reading stream-config failed ...; retrying" every second, forever, the stream thread never started.
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure("s", Rls); // something to catch up with: an empty topic is caught up without a read
        RefuseReader(kit, callback);
        using var reader = NewReader(kit);

        var stopped = Assert.Throws<AccessRefusedException>(() => reader.CatchUp(TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.StartsWith("Kafka refused the processor access; it stops: reading the stream configs of topic 'stream-config' before processing failed with TopicAuthorizationFailed",
            stopped.Message);
        Assert.Contains("Retrying cannot help until its principal is allowed READ on topic 'stream-config' (STREAM_CONFIG_TOPIC) (all its ACLs", stopped.Message);
        Assert.False(reader.Table.IsCaughtUp);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AReaderRefusedTheTopicForWantOfAnACLWhileFollowingItStopsFollowingAndKeepsTheRefusalForTheServiceToStopWith(bool callback)
    {
        // Before 2026-12-07: a warning per poll, forever, every stream filtered with what was last read. The worker stops the
        // stream thread and throws Refused (ProcessorProcessTests.READ_on_the_stream_config_topic_taken_away_while_it_runs_*).
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure("s", Rls);
        using var reader = NewReader(kit);
        reader.CatchUp(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Null(reader.Refused);

        RefuseReader(kit, callback);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // only a reader that kept retrying gets here
        reader.Run(timeout.Token);

        Assert.False(timeout.IsCancellationRequested, "Run went on after the refusal");
        Assert.StartsWith("Kafka refused the processor access; it stops: reading the stream configs of topic 'stream-config' while following it failed with TopicAuthorizationFailed",
            reader.Refused?.Message);
    }

    private static void RefuseReader(StreamConfigKit kit, bool callback)
        => kit.Harness.Cluster.Faults.Fail(FaultPoint.Consume,
            () => callback ? KafkaFaults.ErrorEvent(Confluent.Kafka.ErrorCode.TopicAuthorizationFailed) : KafkaFaults.ConsumeError(Confluent.Kafka.ErrorCode.TopicAuthorizationFailed),
            count: 1000, when: c => c.Owner == StreamConfigReader.ConsumerGroup);

    private static StreamConfigReader NewReader(StreamConfigKit kit)
    {
        var options = new ProcessorOptions { StreamConfigTopic = StreamConfigKit.ConfigTopic };
        var table = new StreamConfigTable(StreamFilterConfig.Create(options.Algorithm, options.Params), options.MaxStreamConfigs);
        return new StreamConfigReader(kit.Harness.Supplier, options, table, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    }

    [Fact]
    public void AKeyThatIsNotUtf8IsIgnoredWithAWarningAndConfiguresNoOtherStream()
    {
        // Read with U+FFFD for their bad bytes, both keys would be one entry, of the stream "s\uFFFD", which sends chunks.
        const string named = "s\uFFFD";
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure([(byte)'s', 0xFF], Rls);
        kit.Configure([(byte)'s', 0xFE], """{"algorithm":"lms"}""");
        var log = new FakeLogger();
        var instance = kit.Start("one", readerLog: log);
        var sent = StreamConfigKit.Chunks(named, 0, 3);
        kit.Produce(sent);
        kit.StepUntil(() => kit.Harness.OutputCount(named) == 3, instance);

        StreamConfigKit.AssertFiltered(FilterFactory.Create("kalman"), sent, kit.Harness.Outputs()[named]);
        Assert.Empty(instance.Table.Entries);
        Assert.Empty(kit.Harness.DeadLetters());
        Assert.Equal(2, instance.Table.IgnoredKeys);

        // The first is logged; the second is counted only (the 1st, 10th, 100th, ... is logged).
        var warning = Assert.Single(log.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning).Message;
        Assert.Equal("Stream-config record at stream-config [[0]] @0 is ignored: the record key is not valid UTF-8: 73FF, so it names no stream "
            + "(records ignored so far: 1; the 1st, 10th, 100th, ... is logged)", warning);
    }

    [Fact]
    public void RecordsWithAKeyNamingNoStreamOrAnInvalidValueAreCountedEachAndLoggedAtThe1st10thAnd100th()
    {
        // Whoever can write the topic could otherwise fill every instance's log with a line per record (until 2026-12-06
        // both warnings were logged for each record, at every start too, as each instance reads the whole topic).
        using var kit = new StreamConfigKit(partitions: 1);
        using var refused = DocumentedMetric.Collect<long>(kit.Harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.stream_configs.refused");
        for (var i = 0; i < 100; i++)
        {
            kit.Configure([(byte)'s', 0xFF], Rls); // offset 2i
            kit.Configure($"r{i}", "not json"); // offset 2i + 1
        }

        var log = new FakeLogger();
        var instance = kit.Start("one", readerLog: log);

        Assert.Equal((100L, 100L, 100), (instance.Table.IgnoredKeys, instance.Table.Refused, instance.Table.Count));
        Assert.Equal((100, 100), (refused.Sum(("reason", "invalid-key")), refused.Sum(("reason", "invalid"))));
        var warnings = log.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning).Select(r => r.Message).ToList();
        Assert.Equal(6, warnings.Count);
        Assert.Equal(new[] { 1, 10, 100 }.Select(n => $"Stream-config record at stream-config [[0]] @{2 * (n - 1)} is ignored: the record key is not valid UTF-8: 73FF, "
            + $"so it names no stream (records ignored so far: {n}; the 1st, 10th, 100th, ... is logged)"), warnings.Where(w => w.Contains("is ignored", StringComparison.Ordinal)));
        var refusals = warnings.Where(w => w.Contains("is refused", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, refusals.Count);
        foreach (var (warning, n) in refusals.Zip([1, 10, 100]))
        {
            Assert.StartsWith($"Stream-config record for r{n - 1} at stream-config [[0]] @{2 * n - 1} is refused: ", warning, StringComparison.Ordinal);
            Assert.EndsWith($"; the stream keeps its filter and its owner dead-letters the record (records refused so far: {n}; the 1st, 10th, 100th, ... is logged)",
                warning, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AParameterChangeWithinKalmanKeepsTheEstimateAndATombstoneReturnsToTheDefaultFresh()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        var instance = kit.Start("one");
        var sent = StreamConfigKit.Chunks("k", 0, 9);
        kit.Produce(sent[..3]);
        kit.StepUntil(() => kit.Harness.OutputCount("k") == 3, instance);
        kit.Configure("k", """{"algorithm":"kalman","params":{"q":0.001,"r":0.5}}""");
        instance.Reader.Poll(TimeSpan.Zero);
        kit.Produce(sent[3..6]);
        kit.StepUntil(() => kit.Harness.OutputCount("k") == 6, instance);
        kit.Configure("k", null);
        instance.Reader.Poll(TimeSpan.Zero);
        kit.Produce(sent[6..]);
        kit.StepUntil(() => kit.Harness.OutputCount("k") == 9, instance);

        var output = kit.Harness.Outputs()["k"];
        var reference = FilterFactory.Create("kalman");
        StreamConfigKit.AssertFiltered(reference, sent[..3], output[..3]);
        var retuned = FilterInspector.Retune(reference.SaveState(), new Dictionary<string, double> { ["q"] = 0.001, ["r"] = 0.5 })!;
        Assert.Equal(((IInspectableFilter)reference).Inspect().Values["estimate"], ((IInspectableFilter)retuned).Inspect().Values["estimate"]);
        StreamConfigKit.AssertFiltered(retuned, sent[3..6], output[3..6]);

        // Back to the default kalman: a parameter change again, so the estimate carries over once more.
        var back = FilterInspector.Retune(retuned.SaveState(), null)!;
        StreamConfigKit.AssertFiltered(back, sent[6..], output[6..]);
        var checkpoint = kit.LastCheckpoint("k");
        Assert.Equal((null, 6L, -1L), (checkpoint.Setting?.Config, checkpoint.Setting?.SwitchSeq, checkpoint.Setting?.ConfigOffset));
    }

    [Theory]
    [InlineData("rls", 4.0)] // another algorithm: fresh
    [InlineData("kalman", 0.25)] // the same one with another r: the estimate carries over
    public void ARedeployWithAnotherDefaultSwitchesTheStreamsOnTheDefaultAtTheirNextChunk(string algorithm, double parameter)
    {
        using var kit = new StreamConfigKit(partitions: 1);
        var before = kit.Start("before");
        var sent = StreamConfigKit.Chunks("d", 0, 9);
        var configured = StreamConfigKit.Chunks("own", 0, 6);
        kit.Configure("own", Rls);
        kit.Produce(sent[..3]);
        kit.Produce(configured[..3]);
        kit.StepUntil(() => kit.Harness.OutputCount("d") == 3 && kit.Harness.OutputCount("own") == 3, before);

        // The deployment's FILTER_ALGORITHM or Filter:Params change: the old instance goes, the new one restores the
        // streams' state, made under the old default.
        var parameters = new Dictionary<string, double> { [algorithm == "rls" ? "order" : "r"] = parameter };
        kit.Harness.Cluster.ExpireMember(kit.Harness.Supplier.Consumers[0]);
        var after = kit.Start("after", o => (o.Algorithm, o.Params) = (algorithm, parameters));
        kit.Produce(sent[3..]);
        kit.Produce(configured[3..]);
        kit.StepUntil(() => kit.Harness.OutputCount("d") == 9 && kit.Harness.OutputCount("own") == 6, after);

        Assert.Empty(kit.Harness.DeadLetters());
        var output = kit.Harness.Outputs();
        var old = FilterFactory.Create("kalman");
        StreamConfigKit.AssertFiltered(old, sent[..3], output["d"][..3]);
        var next = algorithm == "kalman" ? FilterInspector.Retune(old.SaveState(), parameters)! : FilterFactory.Create(algorithm, parameters);
        StreamConfigKit.AssertFiltered(next, sent[3..], output["d"][3..]);
        StreamConfigKit.AssertFiltered(StreamFilterConfig.Parse(System.Text.Encoding.UTF8.GetBytes(Rls)).NewFilter(), configured, output["own"]);
        var checkpoint = kit.LastCheckpoint("d");
        Assert.Null(checkpoint.Setting); // still the default: the state says which
        Assert.True(StreamFilterConfig.Create(algorithm, parameters).Runs(checkpoint.FilterState));
    }

    [Theory]
    [InlineData("kalman", "{\"algorithm\":\"kalman\",\"params\":{\"r\":0.2}}")]
    [InlineData("rls", Rls)]
    [InlineData("lms", "{\"algorithm\":\"lms\",\"params\":{\"order\":5}}")]
    [InlineData("ls", "{\"algorithm\":\"ls\",\"params\":{\"window\":11,\"degree\":3}}")]
    public async Task TheStateViewEqualsTheLibrarysOwnStateAfterNChunks(string algorithm, string json)
    {
        using var kit = new StreamConfigKit(partitions: 2);
        kit.Configure("v", json);
        var instance = kit.Start("one");
        var sent = StreamConfigKit.Chunks("v", 0, 5);
        kit.Produce(sent, partition: 1);
        kit.StepUntil(() => kit.Harness.OutputCount("v") == 5, instance);

        var reference = StreamFilterConfig.Parse(System.Text.Encoding.UTF8.GetBytes(json)).NewFilter();
        foreach (var chunk in sent)
        {
            reference.Process(chunk.Signal.Span, new double[chunk.Signal.Length]);
        }

        var asking = instance.Queries.AskAsync(tasks => StreamViews.Find(tasks, "v", instance.Table), TimeSpan.FromSeconds(30), CancellationToken.None);
        instance.Thread.Step(CancellationToken.None);
        var view = await asking.WaitAsync(TimeSpan.FromSeconds(30));

        var expected = ((IInspectableFilter)reference).Inspect();
        Assert.NotNull(view);
        Assert.Equal((1, 4L, "stream-config", algorithm), (view.Partition, view.LastSeq!.Value, view.Config.Source, view.Config.Algorithm));
        Assert.Null(view.PendingConfig);
        Assert.Equal(expected.Algorithm, view.Filter!.Algorithm);
        Assert.Equal(expected.SamplesProcessed, view.Filter.SamplesProcessed);
        Assert.Equal(expected.Parameters, view.Filter.Parameters);
        Assert.Equal(expected.Values, view.Filter.Values);
        Assert.Equal(expected.Vectors.Keys, view.Filter.Vectors.Keys);
        Assert.All(expected.Vectors, v => Assert.Equal(v.Value, view.Filter.Vectors[v.Key]));

        var listing = instance.Queries.AskAsync(tasks => StreamViews.List(tasks, "one", instance.Table, 0, 10), TimeSpan.FromSeconds(30), CancellationToken.None);
        instance.Thread.Step(CancellationToken.None);
        var list = await listing.WaitAsync(TimeSpan.FromSeconds(30));
        var summary = Assert.Single(list.Streams);
        Assert.Equal(("v", algorithm, 5L, 1), (summary.StreamId, summary.Algorithm, summary.NextSeq, list.Total));
    }

    [Fact]
    public async Task PagesOfTheStreamListSpanPartitionsAndAnOffsetPastTheEndGivesAnEmptyPage()
    {
        using var kit = new StreamConfigKit(partitions: 3);
        var instance = kit.Start("one");
        var ids = Enumerable.Range(0, 9).Select(i => $"s{i}").ToList();
        for (var i = 0; i < ids.Count; i++)
        {
            kit.Produce(StreamConfigKit.Chunks(ids[i], 0, 1), partition: i % 3);
        }

        kit.StepUntil(() => ids.All(id => kit.Harness.OutputCount(id) == 1), instance);

        // Every page against the one walk over all streams in partition order.
        var paging = instance.Queries.AskAsync(tasks =>
        {
            var all = tasks.Values.OrderBy(t => t.Partition).SelectMany(t => t.State.Streams).Select(s => s.StreamId).ToList();
            var pages = new List<(int Offset, int Limit, List<string> Expected, List<string> Got, int Total)>();
            foreach (var (offset, limit) in new[] { (0, 2), (2, 2), (3, 4), (5, 100), (8, 1), (9, 5), (1_000_000, 10) })
            {
                var list = StreamViews.List(tasks, "one", instance.Table, offset, limit);
                pages.Add((offset, limit, [.. all.Skip(offset).Take(limit)], [.. list.Streams.Select(s => s.StreamId)], list.Total));
            }

            return pages;
        }, TimeSpan.FromSeconds(30), CancellationToken.None);
        instance.Thread.Step(CancellationToken.None);

        foreach (var page in await paging.WaitAsync(TimeSpan.FromSeconds(30)))
        {
            Assert.Equal(page.Expected, page.Got);
            Assert.Equal(9, page.Total);
        }
    }
}
