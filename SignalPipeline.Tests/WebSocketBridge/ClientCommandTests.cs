using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using WebSocketBridge.Clients;

namespace SignalPipeline.Tests.WebSocketBridge;

public sealed class ClientCommandTests
{
    [Fact]
    public void Subscribe_reads_streams_and_options()
    {
        var command = Parse("""{"type":"subscribe","streams":["sensor-1","sensor-2"],"raw":true,"points_per_second":1200}""");

        var subscribe = Assert.IsType<SubscribeCommand>(command);
        Assert.Equal(["sensor-1", "sensor-2"], subscribe.Streams);
        Assert.True(subscribe.Raw);
        Assert.Equal(1200, subscribe.PointsPerSecond);
    }

    [Fact]
    public void Subscribe_options_are_optional()
    {
        var subscribe = Assert.IsType<SubscribeCommand>(Parse("""{"type":"subscribe","streams":["*"]}"""));

        Assert.Equal(["*"], subscribe.Streams);
        Assert.Null(subscribe.Raw);
        Assert.Null(subscribe.PointsPerSecond);
    }

    [Fact]
    public void A_stream_whose_id_is_a_star_cannot_be_followed_alone_a_star_is_every_stream()
    {
        // docs/websocket-bridge.md, Client -> server: the codec allows the id "*", the protocol reads it as every stream.
        var subscription = Subscription.None.Add(Assert.IsType<SubscribeCommand>(Parse("""{"type":"subscribe","streams":["*"]}""")).Streams);

        Assert.True(subscription.All);
        Assert.True(subscription.Includes("sensor-1"));
        Assert.True(subscription.Remove(["*"]).IsEmpty);
    }

    [Theory]
    [InlineData("""{"type":"unsubscribe","streams":["a"]}""", typeof(UnsubscribeCommand))]
    [InlineData("""{"type":"pause"}""", typeof(PauseCommand))]
    [InlineData(""" {"type":"resume","extra":1} """, typeof(ResumeCommand))]
    public void Other_commands_parse(string json, Type expected) => Assert.IsType(expected, Parse(json));

    [Theory]
    [InlineData("not json", null)]
    [InlineData("{\"type\":\"pause\"", null)]
    [InlineData("{\"type\":\"pause\"} {}", null)]
    [InlineData("", null)]
    // An escaped lone surrogate passes the JSON syntax check, so the document is built, but the string it spells is not
    // valid UTF-16: System.Text.Json refuses it only when the string is read (an InvalidOperationException, not a
    // JsonException), and the bridge closes with that message. A high surrogate with no low one after it, a low one alone.
    [InlineData("""{"type":"subscribe","streams":["\ud800"]}""", "malformed JSON: Cannot read incomplete UTF-16 JSON text as string with missing low surrogate.")]
    [InlineData("""{"type":"subscribe","streams":["\udc00"]}""", "malformed JSON: Cannot read invalid UTF-16 JSON text as string. Invalid surrogate value: '0xDC00'.")]
    public void Bytes_that_are_not_json_close_with_1007(string text, string? reason)
    {
        var error = Refused(text);

        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, error.Status);
        if (reason is null)
        {
            Assert.StartsWith("malformed JSON", error.Reason);
        }
        else
        {
            Assert.Equal(reason, error.Reason);
        }
    }

    [Theory]
    [InlineData("[1,2]", "JSON object")]
    [InlineData("""{"streams":["a"]}""", "\"type\"")]
    [InlineData("""{"type":7}""", "\"type\"")]
    [InlineData("""{"type":"dance"}""", "unknown type \"dance\"")]
    [InlineData("""{"type":"subscribe"}""", "\"streams\"")]
    [InlineData("""{"type":"subscribe","streams":"a"}""", "\"streams\"")]
    [InlineData("""{"type":"subscribe","streams":[1]}""", "\"streams\" items")]
    [InlineData("""{"type":"subscribe","streams":["a",""]}""", "\"streams\" item 1 has 0 UTF-8 bytes")]
    [InlineData("""{"type":"subscribe","streams":["a"],"raw":"yes"}""", "\"raw\"")]
    [InlineData("""{"type":"subscribe","streams":["a"],"points_per_second":0}""", "\"points_per_second\"")]
    [InlineData("""{"type":"subscribe","streams":["a"],"points_per_second":1.5}""", "\"points_per_second\"")]
    public void Json_that_is_not_a_command_closes_with_1008_naming_the_problem(string json, string mentioned)
    {
        var error = Refused(json);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, error.Status);
        Assert.Contains(mentioned, error.Reason);
    }

    [Theory]
    [InlineData("""{"type":"subscribe","streams":[[[[[[[["a"]]]]]]]]}""")]
    [InlineData("""{"type":"pause","x":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{}}}}}}}}}""")]
    public void Json_nested_deeper_than_a_command_closes_with_1008_naming_the_depth(string json)
    {
        var error = Refused(json);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, error.Status);
        Assert.StartsWith("invalid message: nested deeper than 8 levels", error.Reason);
    }

    [Fact]
    public void Json_nested_as_deep_as_a_message_allows_closes_with_1008()
    {
        var error = Refused(new string('[', 2000) + new string(']', 2000));

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, error.Status);
        Assert.StartsWith("invalid message: nested deeper than 8 levels", error.Reason);
    }

    [Theory]
    [InlineData("""{"type":"subscribe","streams":[[[[[[[["a"]]]]]]]}""")]
    [InlineData("""{"type":"subscribe","streams":[[[[[[[["a"]]]]]]]]} x""")]
    public void Deep_bytes_that_are_not_json_still_close_with_1007(string text)
    {
        var error = Refused(text);

        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, error.Status);
        Assert.StartsWith("malformed JSON", error.Reason);
        Assert.DoesNotContain("depth", error.Reason);
    }

    [Theory]
    [InlineData("subscribe")]
    [InlineData("unsubscribe")]
    public void A_stream_id_counts_UTF8_bytes_up_to_256_as_documented(string type)
    {
        // docs/websocket-bridge.md: "A stream id is any 1 to 256 UTF-8 bytes". 128 'é' are 256 bytes, 64 emoji too (128
        // chars); one byte more is refused with 1008 naming the field, however few characters it has.
        string[] longest = [new string('é', 128), string.Concat(Enumerable.Repeat("😀", 64)), new string('s', 256)];
        foreach (var id in longest)
        {
            var command = Parse(Command(type, id));
            Assert.Equal([id], command is SubscribeCommand subscribe ? subscribe.Streams : ((UnsubscribeCommand)command).Streams);
        }

        string[] oneOver = [new string('é', 128) + "s", "s" + string.Concat(Enumerable.Repeat("😀", 64)), new string('s', 257)];
        foreach (var id in oneOver)
        {
            var error = Refused(Command(type, id));
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, error.Status);
            Assert.Equal("invalid message: \"streams\" item 0 has 257 UTF-8 bytes; a stream id has 1 to 256", error.Reason);
        }
    }

    private static string Command(string type, string id) => JsonSerializer.Serialize(new { type, streams = new[] { id } });

    [Fact]
    public void Too_many_streams_are_refused()
    {
        var ids = string.Join(',', Enumerable.Range(0, ClientCommand.MaxStreams + 1).Select(i => $"\"s{i}\""));

        Assert.Contains("at most", Refused($$"""{"type":"subscribe","streams":[{{ids}}]}""").Reason);
    }

    [Fact]
    public void Close_reasons_fit_a_close_frame()
    {
        var error = Refused($$"""{"type":"{{new string('é', 500)}}"}""");

        Assert.True(Encoding.UTF8.GetByteCount(error.Reason) <= ProtocolError.MaxReasonBytes);
        Assert.True(Encoding.UTF8.GetByteCount(ProtocolError.Fit(new string('ü', 300))) <= ProtocolError.MaxReasonBytes);
        Assert.Equal("short", ProtocolError.Fit("short"));
    }

    private static ClientCommand Parse(string json)
    {
        Assert.True(ClientCommand.TryParse(Encoding.UTF8.GetBytes(json), out var command, out var error), error?.Reason);
        return command!;
    }

    private static ProtocolError Refused(string text)
    {
        Assert.False(ClientCommand.TryParse(Encoding.UTF8.GetBytes(text), out _, out var error), $"accepted: {text}");
        return error!;
    }
}
