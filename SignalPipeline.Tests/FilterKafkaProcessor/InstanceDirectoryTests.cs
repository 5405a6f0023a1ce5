using System.Diagnostics.Metrics;
using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Directory;
using FilterKafkaProcessor.Inspection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The instance directory's pure parts: the table (join, leave, expire), its records, the announcer, the advertised URL.</summary>
public sealed class InstanceDirectoryTests
{
    private static readonly TimeSpan Expiry = TimeSpan.FromSeconds(15);

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(20_000));

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private InstanceEntry Entry(string instance, params int[] partitions) => new(instance, $"http://{instance}:8080", partitions, Now);

    [Fact]
    public void InstancesJoinAreReplacedByTheirNewestAnnouncementAndLeaveWithATombstone()
    {
        var directory = new InstanceDirectory(Expiry, _time);
        directory.Apply("a", Entry("a", 0, 1));
        directory.Apply("b", Entry("b", 2));
        Assert.Equal(["a", "b"], directory.Live().Select(e => e.Instance));

        var newer = Entry("a", 0) with { AtMs = Now + 1 };
        directory.Apply("a", newer);
        directory.Apply("a", Entry("a", 0, 1)); // read late: older than what is known, ignored
        Assert.Equal([0], directory.Live().Single(e => e.Instance == "a").Partitions);

        directory.Apply("b", null);
        Assert.Equal(["a"], directory.Live().Select(e => e.Instance));
        Assert.Empty(directory.Others("a"));
    }

    [Fact]
    public void AnAnnouncementOlderThanTheExpiryIsNotLiveAndIsPrunedLater()
    {
        var directory = new InstanceDirectory(Expiry, _time);
        directory.Apply("crashed", Entry("crashed", 0));
        _time.Advance(TimeSpan.FromSeconds(10));
        directory.Apply("alive", Entry("alive", 1));
        Assert.Equal(["alive", "crashed"], directory.Live().Select(e => e.Instance));

        _time.Advance(TimeSpan.FromSeconds(6)); // crashed: 16 s old, alive: 6 s
        Assert.Equal(["alive"], directory.Live().Select(e => e.Instance));
        Assert.Equal(["alive"], directory.Others("me").Select(e => e.Instance));
        Assert.Equal(2, directory.Count); // not live, still known until pruned

        Assert.Equal(["crashed"], directory.Prune(TimeSpan.FromSeconds(12)));
        Assert.Equal(1, directory.Count);
    }

    [Fact]
    public void AnAnnouncementDatedMoreThanTheExpiryAheadIsIgnoredAndDoesNotHideTheRealOne()
    {
        // Forged (the audit wrote one a day ahead) or from a clock far ahead: before 2026-12-04 it was live for a day,
        // every real announcement of "a" (older) was dropped in its favour, and a lookup asked its URL.
        var directory = new InstanceDirectory(Expiry, _time);
        Assert.Equal(DirectoryApply.Ahead, directory.Apply("a", Entry("a", 0) with { Url = "http://ghost:8080", AtMs = Now + (long)TimeSpan.FromDays(1).TotalMilliseconds }));
        Assert.Empty(directory.Live());

        Assert.Equal(DirectoryApply.Applied, directory.Apply("a", Entry("a", 0)));
        Assert.Equal("http://a:8080", directory.Live().Single().Url);

        // Within the expiry ahead (clocks a little apart) is taken as before.
        Assert.Equal(DirectoryApply.Applied, directory.Apply("b", Entry("b", 1) with { AtMs = Now + 10_000 }));
        Assert.Equal(["a", "b"], directory.Live().Select(e => e.Instance));
    }

    [Fact]
    public void AtMaxEntriesANewInstanceTakesTheOldestNotLiveEntrysPlaceOrIsIgnoredCountedAndLogged()
    {
        // Whoever can write the directory topic could name a million instances: until 2026-12-06 each was held until
        // pruned (5 minutes) and every stream lookup asked all the live ones at once.
        using var meters = new TestMeterFactory();
        var directory = new InstanceDirectory(Expiry, _time, maxEntries: 3);
        var telemetry = new DirectoryTelemetry(meters, directory);
        using var ignored = DocumentedMetric.Collect<long>(meters, ProcessorTelemetry.Name, "signalpipeline.processor.instances.ignored");
        using var entries = DocumentedMetric.Collect<int>(meters, ProcessorTelemetry.Name, "signalpipeline.processor.instances.entries")
            .AssertDocumented(typeof(ObservableGauge<>), "{entry}");
        var log = new FakeLogger();
        var records = new DirectoryRecords(log, telemetry);
        const string topic = "filter-kafka-processor-instances";
        void Announce(string instance, long offset) => records.Apply(new TopicPartitionOffset(topic, 0, offset), Encoding.UTF8.GetBytes(instance), Entry(instance, 0).Serialize(), directory);

        Announce("crashed", 0);
        _time.Advance(Expiry + TimeSpan.FromSeconds(1)); // "crashed" is no longer live, not yet pruned
        Announce("a", 1);
        Announce("b", 2);
        Assert.Equal(3, directory.Count);

        // Full: a new instance takes the place of the entry not live; then every entry is live and a new one is ignored.
        Announce("c", 3);
        Assert.Equal(["a", "b", "c"], directory.Live().Select(e => e.Instance));
        for (var i = 0; i < 10; i++)
        {
            Announce($"flood-{i}", 4 + i);
        }

        Assert.Equal(["a", "b", "c"], directory.Live().Select(e => e.Instance));
        Assert.Equal(10, records.Full);
        Assert.Equal(10, ignored.Sum(("reason", "full")));
        Assert.Equal(3, entries.Observe());

        // A known instance is always updated, and a tombstone frees room for a new one.
        _time.Advance(TimeSpan.FromSeconds(1));
        Announce("a", 14);
        Assert.Equal(Now, directory.Live().Single(e => e.Instance == "a").AtMs);
        records.Apply(new TopicPartitionOffset(topic, 0, 15), "b"u8.ToArray(), null, directory);
        Announce("d", 16);
        Assert.Equal(["a", "c", "d"], directory.Live().Select(e => e.Instance));

        // Once "c" (the oldest) is no longer live, a new instance takes its place again.
        _time.Advance(Expiry);
        Announce("e", 17);
        Assert.Equal(["a", "d", "e"], directory.Live().Select(e => e.Instance));
        Assert.Equal(10, records.Full);

        var warnings = log.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning).Select(r => r.Message).ToList();
        Assert.Equal(new[] { (1, 4), (10, 13) }.Select(n => $"Directory record at {topic} [[0]] @{n.Item2} is ignored: 'flood-{n.Item1 - 1}' is a new instance and the directory holds 3 live entries "
            + $"(new instances ignored so far: {n.Item1}; the 1st, 10th, 100th, ... is logged)"), warnings);
    }

    [Fact]
    public void RecordsRoundTripAndAnInvalidOneIsRefusedWithItsReason()
    {
        var entry = Entry("a", 3, 7);
        var read = InstanceEntry.Deserialize("a", entry.Serialize(), out var error);
        Assert.Null(error);
        Assert.Equal(entry.Url, read!.Url);
        Assert.Equal([3, 7], read.Partitions);
        Assert.Contains("\"partitions\":[3,7]", Encoding.UTF8.GetString(entry.Serialize()), StringComparison.Ordinal);

        Assert.Null(InstanceEntry.Deserialize("b", entry.Serialize(), out error));
        Assert.Equal("announces 'a' under key 'b'", error);
        Assert.Null(InstanceEntry.Deserialize("a", (entry with { Url = "not a url" }).Serialize(), out error));
        Assert.Contains("not an absolute http(s) URL", error, StringComparison.Ordinal);
        Assert.Null(InstanceEntry.Deserialize("a", "{oops"u8, out error));
        Assert.StartsWith("not an announcement", error, StringComparison.Ordinal);
        Assert.Null(InstanceEntry.Deserialize("a", """{"instance":"a","partitions":[0],"atMs":1}"""u8, out error)); // no url
        Assert.NotNull(error);
    }

    [Fact]
    public void IgnoredDirectoryRecordsAreCountedEachAndLoggedAtThe1st10thAnd100thOfEachKind()
    {
        // Whoever can write the directory topic could otherwise fill every instance's log with a line per record (until
        // 2026-12-06 both warnings were logged for each record).
        using var meters = new TestMeterFactory();
        var directory = new InstanceDirectory(Expiry, _time);
        var telemetry = new DirectoryTelemetry(meters, directory);
        using var ignored = DocumentedMetric.Collect<long>(meters, ProcessorTelemetry.Name, "signalpipeline.processor.instances.ignored")
            .AssertDocumented(typeof(Counter<>), "{record}");
        var log = new FakeLogger();
        var records = new DirectoryRecords(log, telemetry);
        var ahead = Entry("a", 0) with { AtMs = Now + (long)TimeSpan.FromDays(1).TotalMilliseconds };
        const string topic = "filter-kafka-processor-instances";
        for (var i = 0; i < 100; i++)
        {
            records.Apply(new TopicPartitionOffset(topic, 0, 2 * i), "b"u8.ToArray(), Entry("a", 0).Serialize(), directory);
            records.Apply(new TopicPartitionOffset(topic, 0, 2 * i + 1), "a"u8.ToArray(), ahead.Serialize(), directory);
        }

        records.Apply(new TopicPartitionOffset(topic, 0, 200), "a"u8.ToArray(), Entry("a", 0).Serialize(), directory);

        Assert.Equal(["a"], directory.Live().Select(e => e.Instance));
        Assert.Equal((100L, 100L), (records.Invalid, records.Ahead));
        Assert.Equal((100, 100), (ignored.Sum(("reason", "invalid")), ignored.Sum(("reason", "ahead"))));
        var warnings = log.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning).Select(r => r.Message).ToList();
        Assert.Equal(6, warnings.Count);
        Assert.Equal(new[] { 1, 10, 100 }.Select(n => $"Directory record at {topic} [[0]] @{2 * (n - 1)} is ignored: announces 'a' under key 'b' "
            + $"(invalid directory records so far: {n}; the 1st, 10th, 100th, ... is logged)"), warnings.Where(w => w.Contains("under key", StringComparison.Ordinal)));
        Assert.Equal(new[] { 1, 10, 100 }.Select(n => $"Directory record at {topic} [[0]] @{2 * n - 1} is ignored: announced at {ahead.AtMs} (Unix ms), more than the entries' "
            + $"expiry ahead of this instance's clock (records dated that far ahead so far: {n}; the 1st, 10th, 100th, ... is logged)"),
            warnings.Where(w => w.Contains("announced at", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(10, true)]
    [InlineData(100, true)]
    [InlineData(1_000_000_000_000, true)]
    [InlineData(0, false)]
    [InlineData(2, false)]
    [InlineData(11, false)]
    [InlineData(20, false)]
    [InlineData(110, false)]
    public void ARepeatedWarningIsLoggedAtThe1st10th100thOccurrenceOnly(long occurrence, bool logged)
        => Assert.Equal(logged, RepeatedWarning.IsLogged(occurrence));

    [Fact]
    public void TheAnnouncerAnnouncesAtOnceWhenItsPartitionsChangeElseEveryHeartbeatAndRemovesLongGoneEntries()
    {
        var options = new InstanceDirectoryOptions { DirectoryHeartbeatSeconds = 5 };
        var directory = new InstanceDirectory(options.Expiry, _time);
        var published = new List<InstanceEntry>();
        var removed = new List<string>();
        var announcer = new InstanceAnnouncer(new StreamInstance("me"), "http://10.0.0.7:8080", options, directory, _time, published.Add, removed.Add);

        announcer.Tick(null); // the stream thread has not said yet: announced with no partitions
        Assert.Empty(Assert.Single(published).Partitions);
        Assert.Equal(["me"], directory.Live().Select(e => e.Instance)); // knows itself at once

        _time.Advance(TimeSpan.FromSeconds(1));
        announcer.Tick([0, 2]);
        Assert.Equal([0, 2], published[^1].Partitions);
        _time.Advance(TimeSpan.FromSeconds(1));
        announcer.Tick([0, 2]);
        announcer.Tick(null); // no answer: the last known partitions stay
        Assert.Equal(2, published.Count);

        directory.Apply("gone", Entry("gone", 1));
        _time.Advance(options.Heartbeat * InstanceAnnouncer.RemoveAfterHeartbeats + TimeSpan.FromSeconds(1));
        announcer.Tick(null);
        Assert.Equal(3, published.Count);
        Assert.Equal([0, 2], published[^1].Partitions);
        Assert.Equal(["gone"], removed);
    }

    [Theory]
    [InlineData("http://10.0.0.9:9000/", null, "http://10.0.0.9:9000")] // the setting wins
    [InlineData(null, "10.1.2.3", "http://10.1.2.3:8080")] // Kubernetes: wildcard -> pod IP
    [InlineData(null, "fd00::5", "http://[fd00::5]:8080")]
    [InlineData(null, null, "http://host-1:8080")] // else the host name
    public void TheAdvertisedUrlIsTheSettingElseTheBoundAddressWithAReachableHost(string? configured, string? podIp, string expected)
        => Assert.Equal(expected, AdvertisedAddress.Choose(configured, ["http://[::]:8080"], podIp, "host-1"));

    [Fact]
    public void ALoopbackOrNamedBoundAddressIsKeptAndWildcardsOfEveryFormAreReplaced()
    {
        Assert.Equal("http://127.0.0.1:41234", AdvertisedAddress.Choose(null, ["https://127.0.0.1:41235", "http://127.0.0.1:41234"], "10.1.2.3", "h"));
        Assert.Equal("http://h:80", AdvertisedAddress.Choose(null, ["http://+:80"], null, "h"));
        Assert.Equal("http://h:80", AdvertisedAddress.Choose(null, ["http://*:80"], null, "h"));
        Assert.Equal("http://h:80", AdvertisedAddress.Choose(null, ["http://0.0.0.0:80"], null, "h"));
        Assert.Null(AdvertisedAddress.Choose(null, [], null, "h"));
    }

    [Theory]
    [InlineData("Processor:AdvertisedUrl", "10.0.0.7:8080", "Processor:AdvertisedUrl '10.0.0.7:8080' is not an absolute http(s) URL")]
    [InlineData("Processor:DirectoryHeartbeatSeconds", "0", "Processor:DirectoryHeartbeatSeconds = 0 is out of range [1, 300]")]
    [InlineData("Processor:StreamLookupTimeoutMs", "50", "Processor:StreamLookupTimeoutMs = 50 is out of range [100, 60000]")]
    [InlineData("Processor:MaxStreamLookups", "0", "Processor:MaxStreamLookups = 0 is out of range [1, 10000]")]
    [InlineData("INSTANCES_TOPIC", " ", "INSTANCES_TOPIC must not be empty")]
    [InlineData("INSTANCES_TOPIC", "stream-config", "STREAM_CONFIG_TOPIC and INSTANCES_TOPIC are both 'stream-config'")] // before 2026-12-05 taken
    [InlineData("INSTANCES_TOPIC", "sample-input", "INPUT_TOPIC and INSTANCES_TOPIC are both 'sample-input'")]
    public void ABadSettingStopsTheStartNamingIt(string key, string value, string message)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        var services = new ServiceCollection();
        services.AddInstanceDirectoryOptions(configuration);
        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<InstanceDirectoryOptions>>().Value);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDirectoryTopicIsComparedWithTheOtherTopicsAsRenamed()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["DLQ_TOPIC"] = "shared", ["INSTANCES_TOPIC"] = "shared" }).Build();
        var services = new ServiceCollection();
        services.AddInstanceDirectoryOptions(configuration);
        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<InstanceDirectoryOptions>>().Value);
        Assert.Contains("DLQ_TOPIC and INSTANCES_TOPIC are both 'shared'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDefaultsAreValid()
    {
        var services = new ServiceCollection();
        services.AddInstanceDirectoryOptions(new ConfigurationBuilder().Build());
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<InstanceDirectoryOptions>>().Value;
        Assert.Equal("filter-kafka-processor-instances", options.InstancesTopic);
        Assert.Equal(TimeSpan.FromSeconds(15), options.Expiry);
    }
}
