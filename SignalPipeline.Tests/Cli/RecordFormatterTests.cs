using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Messages;

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

    [Fact]
    public void ControlCharactersInTheKeyAreEscapedSoTheRecordCannotDrawOnTheTerminal()
    {
        var key = "mic\u001b[2J\u001b]0;owned\u0007\r\n  signal:   1 2 3\t\u007f\u009b\u202eevil\u2066\\x";

        var text = RecordFormatter.Format(DecodedRecord.Decode(Record(key, "{}"u8.ToArray())), 6);

        Assert.Contains(@"key=mic\x1b[2J\x1b]0;owned\x07\r\n  signal:   1 2 3\t\x7f\x9b\u202eevil\u2066\\x  undecodable", text);
        Assert.Equal(2, text.Split('\n').Length);
        Assert.DoesNotContain(text, c => c != '\n' && (char.IsControl(c) || c is '\u202e' or '\u2066'));
    }

    [Fact]
    public void DeadLetterHeadersAndATextValueAreEscaped()
    {
        var headers = MessageHeaders.AddDeadLetter([], "malformed-json\u001b[0m", "bad\r\nsample-output/0@6  forged line",
            new TopicPartitionOffset("sample-input\u001b[8m", 2, 41));

        var text = RecordFormatter.Format(DecodedRecord.Decode(Record("k", "{\"a\":\u001b[31m\r\nred"u8.ToArray(), headers: headers)), 6);

        Assert.Contains(@"DEAD LETTER malformed-json\x1b[0m: bad\r\nsample-output/0@6  forged line  (from sample-input\x1b[8m/2@41)", text);
        Assert.EndsWith(@"  value: {""a"":\x1b[31m\r\nred", text);
        Assert.Equal(2, text.Split('\n').Length);
        Assert.DoesNotContain(text, c => c != '\n' && char.IsControl(c));
    }

    [Fact]
    public void PlainTextIsLeftAsItIs()
    {
        Assert.Equal("mic-1 é ü 😀 π", RecordFormatter.Printable("mic-1 é ü 😀 π"));
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
