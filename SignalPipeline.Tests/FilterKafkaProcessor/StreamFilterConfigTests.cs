using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.State;
using SignalPipeline.Filters;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The stream-config record format, the switch decision, and the checkpoint that records them.</summary>
public sealed class StreamFilterConfigTests
{
    private static StreamFilterConfig Parse(string json) => StreamFilterConfig.Parse(Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("[1]", "not an object")]
    [InlineData("{\"params\":{}}", "'algorithm' is missing (kalman, rls, ls or lms)")]
    [InlineData("{\"algorithm\":\"fft\"}", "Unknown filter algorithm 'fft'. Known: kalman, rls, ls, lms.")]
    [InlineData("{\"algorithm\":\"rls\",\"params\":{\"order\":0}}", "order")]
    [InlineData("{\"algorithm\":\"rls\",\"params\":{\"gain\":1}}", "Unknown parameter 'gain'")]
    [InlineData("{\"algorithm\":\"rls\",\"params\":{\"order\":\"8\"}}", "params.order must be a finite number, not \"8\"")]
    [InlineData("{\"algorithm\":\"rls\",\"extra\":1}", "unknown field 'extra' (known: algorithm, params)")]
    [InlineData("{\"algorithm\":\"rls\",\"algorithm\":\"kalman\"}", "'algorithm' is given twice")]
    [InlineData("{\"algorithm\":\"rls\",\"params\":{\"order\":8},\"params\":null}", "'params' is given twice")]
    [InlineData("{\"algorithm\":\"rls\",\"params\":{\"order\":8,\"ORDER\":16}}", "params.ORDER is given twice (parameter names are case-insensitive)")]
    // The reasons docs/messages.md quotes ("Stream configuration"), in full.
    public void ARefusedValueSaysWhatIsWrong(string json, string expected)
        => Assert.Contains(expected, Assert.Throws<StreamConfigException>(() => Parse(json)).Message, StringComparison.Ordinal);

    // Every processor instance holds every refused entry with its reason: a reason that quoted all of a 4 KB name took
    // 13 KB an entry (docs/processor.md, "What a stream-config entry takes"); now any name or value sent is quoted as its
    // first 64 characters and its length.
    [Theory]
    [InlineData("{\"NAME\":1}", "unknown field 'aaaa")]
    [InlineData("{\"algorithm\":\"NAME\"}", "Unknown filter algorithm 'aaaa")]
    [InlineData("{\"algorithm\":\"kalman\",\"params\":{\"NAME\":1}}", "Unknown parameter 'aaaa")]
    [InlineData("{\"algorithm\":\"kalman\",\"params\":{\"q\":\"NAME\"}}", "params.q must be a finite number, not \"aaaa")]
    [InlineData("{\"algorithm\":\"kalman\",\"params\":{\"NAME\":[1]}}", "params.aaaa")]
    public void ARefusalQuotesAtMost64CharactersOfANameOrValueAndItsLength(string template, string start)
    {
        var name = new string('a', 4000);
        var json = template.Replace("NAME", name, StringComparison.Ordinal);
        var reason = Assert.Throws<StreamConfigException>(() => Parse(json)).Message;
        Assert.True(reason.Length < 256, reason);
        Assert.StartsWith(start, reason, StringComparison.Ordinal);
        Assert.Matches(@"a{63,64}\.\.\.", reason); // 63 after the quote of a JSON string's raw text
        Assert.DoesNotContain(new string('a', 65), reason, StringComparison.Ordinal);
        Assert.Contains(json.Contains("\"q\":\"", StringComparison.Ordinal) ? "(4002 characters)" : "(4000 characters)", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AShortenedNameIsNotCutBetweenTheHalvesOfASurrogatePair()
    {
        var name = new string('a', 63) + "\U0001F600" + new string('a', 100);
        var reason = Assert.Throws<StreamConfigException>(() => Parse($"{{\"{name}\":1}}")).Message;
        Assert.StartsWith($"unknown field '{new string('a', 63)}...' ({name.Length} characters)", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AConfigIsResolvedSoEqualConfigsCompareEqualAndItRoundTrips()
    {
        var written = Parse("{\"algorithm\":\"RLS\",\"params\":{\"ORDER\":8}}");
        var defaults = Parse("{\"algorithm\":\"rls\"}");
        Assert.True(written.SameAs(defaults));
        Assert.Equal(["order", "lambda", "delta"], written.Parameters.Keys);
        Assert.True(StreamFilterConfig.Parse(written.ToJson()).SameAs(written));
        Assert.False(written.SameAs(Parse("{\"algorithm\":\"rls\",\"params\":{\"lambda\":0.98}}")));
    }

    [Fact]
    public void AConfigRoundTripsBitForBitWhateverItsValues()
    {
        // .NET's "R" text for 2^-958 (4.104536801298376E-289) parses to the next double; -0 must stay -0.
        var written = StreamFilterConfig.Create("kalman", new Dictionary<string, double> { ["q"] = Math.ScaleB(1, -958), ["r"] = 0.1 + 0.2, ["x0"] = -0.0 });

        var read = StreamFilterConfig.Parse(written.ToJson());

        Assert.Equal(written.Parameters.Values.Select(BitConverter.DoubleToInt64Bits), read.Parameters.Values.Select(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void TheDecisionSwitchesOnceRefusesOnceAndReturnsToTheDefaultOnATombstone()
    {
        var kalman = StreamFilterConfig.Create("kalman", null);
        var rls = new StreamConfigEntry("s", 0, 7, Parse("{\"algorithm\":\"rls\"}"), null, []);
        var bad = new StreamConfigEntry("s", 0, 9, null, "order: out of range", []);

        var first = ConfigDecision.Decide(null, rls, kalman, 12);
        Assert.Equal((ConfigChange.Switch, 12L, 7L), (first.Change, first.Setting!.SwitchSeq, first.Setting.ConfigOffset));
        Assert.Equal(ConfigChange.None, ConfigDecision.Decide(first.Setting, rls, kalman, 20).Change);

        var refused = ConfigDecision.Decide(first.Setting, bad, kalman, 20);
        Assert.Equal((ConfigChange.Refuse, "rls", 12L, 9L), (refused.Change, refused.Setting!.Config!.Algorithm, refused.Setting.SwitchSeq, refused.Setting.ConfigOffset));
        Assert.Equal(ConfigChange.None, ConfigDecision.Decide(refused.Setting, bad, kalman, 30).Change);

        var back = ConfigDecision.Decide(refused.Setting, null, kalman, 40);
        Assert.Equal((ConfigChange.Switch, null, 40L), (back.Change, back.Setting!.Config, back.Setting.SwitchSeq));
        Assert.Equal(ConfigChange.None, ConfigDecision.Decide(null, null, kalman, 40).Change);
        Assert.Equal(ConfigChange.Record, ConfigDecision.Decide(null, rls with { Config = kalman }, kalman, 5).Change);
    }

    [Fact]
    public void ACheckpointWithASettingIsVersion3AndOneWithoutStaysVersion2()
    {
        var held = new PendingChunk(9, [1, 2], [new("h", [3])], 42, new TopicPartitionOffset("sample-input", 1, 77));
        var setting = new StreamFilterSetting(Parse("{\"algorithm\":\"lms\",\"params\":{\"order\":4}}"), 5, 3);
        var v3 = new StreamCheckpoint(8, [7, 7], [held], setting).Serialize();
        var v2 = new StreamCheckpoint(8, [7, 7], [held]).Serialize();
        Assert.Equal((3, 2), (v3[0], v2[0]));

        var read = StreamCheckpoint.Deserialize(v3);
        Assert.Equal((5L, 3L), (read.Setting!.SwitchSeq, read.Setting.ConfigOffset));
        Assert.True(read.Setting.Config!.SameAs(setting.Config!));
        Assert.Equal(held.Seq, Assert.Single(read.Held).Seq);
        Assert.Null(StreamCheckpoint.Deserialize(v2).Setting);

        var toDefault = StreamCheckpoint.Deserialize(new StreamCheckpoint(8, null, [], new StreamFilterSetting(null, 6, -1)).Serialize());
        Assert.Equal((null, 6L), (toDefault.Setting!.Config, toDefault.Setting.SwitchSeq));
        Assert.Throws<FormatException>(() => StreamCheckpoint.Deserialize(v3.AsSpan(0, v3.Length - 1)));
    }
}
