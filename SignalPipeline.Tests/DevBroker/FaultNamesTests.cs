using System.Text.Json;
using Confluent.Kafka;
using SignalPipeline.DevBroker;

namespace SignalPipeline.Tests.DevBroker;

public sealed class FaultNamesTests
{
    [Theory]
    [InlineData("NOT_ENOUGH_REPLICAS", ErrorCode.NotEnoughReplicas)]
    [InlineData("NotEnoughReplicas", ErrorCode.NotEnoughReplicas)]
    [InlineData("not_enough_replicas", ErrorCode.NotEnoughReplicas)]
    [InlineData("19", ErrorCode.NotEnoughReplicas)]
    [InlineData("NOT_COORDINATOR", ErrorCode.NotCoordinatorForGroup)]
    [InlineData("COORDINATOR_NOT_AVAILABLE", ErrorCode.GroupCoordinatorNotAvailable)]
    [InlineData("PRODUCER_FENCED", ErrorCode.ProducerFenced)]
    [InlineData("_TRANSPORT", ErrorCode.Local_Transport)]
    [InlineData("Local_Transport", ErrorCode.Local_Transport)]
    [InlineData("_MSG_TIMED_OUT", ErrorCode.Local_MsgTimedOut)]
    [InlineData("-195", ErrorCode.Local_Transport)]
    public void An_error_is_read_from_Kafka_librdkafka_and_Confluent_names_and_codes(string text, ErrorCode expected)
    {
        Assert.True(FaultNames.TryParseError(text, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Every_Confluent_Kafka_error_name_reads_back_as_its_own_code()
    {
        foreach (var name in Enum.GetNames<ErrorCode>())
        {
            Assert.True(FaultNames.TryParseError(name, out var error), name);
            Assert.Equal(Enum.Parse<ErrorCode>(name), error);
        }
    }

    [Theory]
    [InlineData("NOT_A_REAL_ERROR")]
    [InlineData("123456")]
    [InlineData("")]
    [InlineData(null)]
    public void An_unknown_error_is_refused(string? text) => Assert.False(FaultNames.TryParseError(text, out _));

    [Fact]
    public void A_JSON_error_is_a_name_or_a_defined_code()
    {
        Assert.True(FaultNames.TryParseError(JsonElement("19"), out var byCode));
        Assert.Equal(ErrorCode.NotEnoughReplicas, byCode);
        Assert.True(FaultNames.TryParseError(JsonElement("\"NOT_ENOUGH_REPLICAS\""), out var byName));
        Assert.Equal(ErrorCode.NotEnoughReplicas, byName);
        Assert.False(FaultNames.TryParseError(JsonElement("123456"), out _));
        Assert.False(FaultNames.TryParseError(JsonElement("true"), out _));
        Assert.False(FaultNames.TryParseError(JsonElement("1.5"), out _));
    }

    [Theory]
    [InlineData("EndTxn", KafkaApi.EndTxn)]
    [InlineData("END_TXN", KafkaApi.EndTxn)]
    [InlineData("produce", KafkaApi.Produce)]
    [InlineData("26", KafkaApi.EndTxn)]
    [InlineData("15", (KafkaApi)15)]
    public void An_API_is_read_from_its_name_or_key(string text, KafkaApi expected)
    {
        Assert.True(FaultNames.TryParseApi(text, out var api));
        Assert.Equal(expected, api);
    }

    [Theory]
    [InlineData("Commit")]
    [InlineData("-1")]
    [InlineData("")]
    [InlineData(null)]
    public void An_unknown_API_is_refused(string? text) => Assert.False(FaultNames.TryParseApi(text, out _));

    [Theory]
    [InlineData("26", KafkaApi.EndTxn)]
    [InlineData("\"26\"", KafkaApi.EndTxn)]
    [InlineData("\"EndTxn\"", KafkaApi.EndTxn)]
    [InlineData("15", (KafkaApi)15)]
    public void An_API_in_a_JSON_body_is_a_name_or_a_key_as_a_string_or_a_number(string json, KafkaApi expected)
    {
        // POST /faults/request-errors: {"api":26,...} as {"errors":[19]} takes a number (docs/kafka.md).
        Assert.True(FaultNames.TryParseApi(JsonElement(json), out var api));
        Assert.Equal(expected, api);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("true")]
    [InlineData("\"Commit\"")]
    public void An_unknown_API_in_a_JSON_body_is_refused(string json) => Assert.False(FaultNames.TryParseApi(JsonElement(json), out _));

    private static JsonElement JsonElement(string json) => JsonDocument.Parse(json).RootElement;
}
