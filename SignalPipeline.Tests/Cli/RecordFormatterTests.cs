using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;

namespace SignalPipeline.Tests.Cli;

/// <summary><c>kafka tail</c>'s text for one record, built without a broker.</summary>
public sealed class RecordFormatterTests
{
    [Theory]
    [InlineData(9_999_999_999_999_999L)]
    [InlineData(253_402_300_800_000L)] // 10000-01-01T00:00:00Z, one millisecond past what DateTimeOffset holds
    [InlineData(long.MinValue)]
    public void ATimestampNoDateCanHoldIsShownAsItsMilliseconds(long unixMs)
    {
        var text = RecordFormatter.Format(DecodedRecord.Decode(Record("k", "{}"u8.ToArray(), unixMs)), 6);

        Assert.StartsWith($"sample-output/0@5  ts {unixMs} ms (out of range)  key=k", text);
    }

    [Fact]
    public void TheLastMillisecondOfYear9999IsStillADate()
    {
        Assert.Equal("9999-12-31T23:59:59.999Z", RecordFormatter.Timestamp(253_402_300_799_999L));
    }

    internal static ConsumeResult<byte[], byte[]> Record(string? key, byte[]? value, long unixMs = 1_764_472_321_123, Headers? headers = null)
        => new()
        {
            Topic = "sample-output",
            Partition = 0,
            Offset = 5,
            Message = new Message<byte[], byte[]>
            {
                Key = key is null ? null! : Encoding.UTF8.GetBytes(key),
                Value = value!,
                Timestamp = new Timestamp(unixMs, TimestampType.CreateTime),
                Headers = headers ?? [],
            },
        };
}
