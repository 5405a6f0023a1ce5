using System.Buffers.Binary;
using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.Config;
using SignalPipeline.Filters;

namespace FilterKafkaProcessor.State;

/// <summary>An input record kept verbatim while it waits for a missing seq: re-decoded when released.</summary>
/// <param name="Source">Where it was read (the partition and offset are checkpointed; named in a dead letter).</param>
public sealed record PendingChunk(long Seq, byte[] Value, IReadOnlyList<KeyValuePair<string, byte[]?>> Headers, long TimestampMs, TopicPartitionOffset Source)
{
    /// <summary>A record's headers as held chunks and dead letters keep them; a header without a value stays null.</summary>
    public static IReadOnlyList<KeyValuePair<string, byte[]?>> CopyHeaders(Headers? headers)
        => headers is null ? [] : [.. headers.Select(h => KeyValuePair.Create<string, byte[]?>(h.Key, h.GetValueBytes()))];

    /// <summary>What this chunk adds to its stream's checkpoint (<see cref="StreamCheckpoint.HeldChunkBytes"/>).</summary>
    public long CheckpointBytes => StreamCheckpoint.HeldChunkBytes(Value, Headers);
}

/// <summary>
/// One stream's checkpoint in the changelog: the filter state (<c>IStreamFilter.SaveState</c> bytes, absent before the
/// first chunk), the next expected seq, and the chunks held for a missing seq (their input offsets are already
/// committed, so they must live in the checkpoint), and the stream's own filter config with the seq it switched at
/// (absent for a stream that runs the deployment default and never had an entry).
/// </summary>
public sealed record StreamCheckpoint(long NextSeq, byte[]? FilterState, IReadOnlyList<PendingChunk> Held, StreamFilterSetting? Setting = null)
{
    private const byte Version = 2;
    private const byte ConfigVersion = 3;

    /// <summary>Format (little-endian): version u8 = 2; next seq i64; state length i32 (-1 = absent) and bytes;
    /// held count i32; per held chunk: seq i64, timestamp i64, source partition i32, source offset i64, value length
    /// i32 and bytes, header count i32, per header: key length i32 and UTF-8 bytes, value length i32 and bytes.
    /// Version 1 (written before 2026-11-30) is the same without the source fields; it is still read.
    /// Version 3 (a stream with a <see cref="Setting"/>) appends: switch seq i64, config offset i64, config length i32
    /// (-1 = the deployment default) and its JSON (docs/messages.md's stream-config value). A stream without a setting is
    /// still written as version 2, so the default costs nothing.</summary>
    public byte[] Serialize()
    {
        var config = Setting?.Config?.ToJson();
        var size = 1 + 8 + 4 + (FilterState?.Length ?? 0) + 4 + (Setting is null ? 0 : 8 + 8 + 4 + (config?.Length ?? 0));
        foreach (var chunk in Held)
        {
            size += (int)HeldChunkBytes(chunk.Value, chunk.Headers);
        }

        var buffer = new byte[size];
        var writer = new Writer(buffer);
        writer.Byte(Setting is null ? Version : ConfigVersion);
        writer.Int64(NextSeq);
        writer.Bytes(FilterState);
        writer.Int32(Held.Count);
        foreach (var chunk in Held)
        {
            writer.Int64(chunk.Seq);
            writer.Int64(chunk.TimestampMs);
            writer.Int32(chunk.Source.Partition.Value);
            writer.Int64(chunk.Source.Offset.Value);
            writer.Bytes(chunk.Value);
            writer.Int32(chunk.Headers.Count);
            foreach (var (key, value) in chunk.Headers)
            {
                writer.Bytes(Encoding.UTF8.GetBytes(key));
                writer.Bytes(value);
            }
        }

        if (Setting is not null)
        {
            writer.Int64(Setting.SwitchSeq);
            writer.Int64(Setting.ConfigOffset);
            writer.Bytes(config);
        }

        return buffer;
    }

    /// <summary>What one held chunk takes in <see cref="Serialize"/>'s format: its value, its headers and their framing.</summary>
    public static long HeldChunkBytes(byte[] value, IReadOnlyList<KeyValuePair<string, byte[]?>> headers)
    {
        long size = 8 + 8 + 4 + 8 + 4 + value.Length + 4;
        foreach (var (key, header) in headers)
        {
            size += 4 + Encoding.UTF8.GetByteCount(key) + 4 + (header?.Length ?? 0); // a header may have no value (null, written as length -1)
        }

        return size;
    }

    /// <summary>Reads <see cref="Serialize"/>'s format (held chunks' sources are in <paramref name="sourceTopic"/>, the input); throws <see cref="FormatException"/> on anything else.</summary>
    public static StreamCheckpoint Deserialize(ReadOnlySpan<byte> data, string sourceTopic = SignalPipeline.Kafka.PipelineTopics.DefaultInput)
    {
        var reader = new Reader(data);
        var version = reader.Byte();
        if (version is not (1 or Version or ConfigVersion))
        {
            throw new FormatException($"Unknown stream checkpoint version {version}.");
        }

        var nextSeq = reader.Int64();
        var state = reader.Bytes();
        var count = reader.Count();
        var held = count == 0 ? null : new List<PendingChunk>(count);
        for (var i = 0; i < count; i++)
        {
            var seq = reader.Int64();
            var timestamp = reader.Int64();
            var source = version == 1
                ? new TopicPartitionOffset(sourceTopic, Partition.Any, Offset.Unset)
                : new TopicPartitionOffset(sourceTopic, new Partition(reader.Int32()), new Offset(reader.Int64()));
            var value = reader.Bytes() ?? throw new FormatException("A held chunk has no value.");
            var headerCount = reader.Count();
            var headers = new List<KeyValuePair<string, byte[]?>>(headerCount);
            for (var h = 0; h < headerCount; h++)
            {
                var key = Encoding.UTF8.GetString(reader.Bytes() ?? throw new FormatException("A header has no key."));
                headers.Add(new(key, reader.Bytes()));
            }

            held!.Add(new PendingChunk(seq, value, headers, timestamp, source));
        }

        StreamFilterSetting? setting = null;
        if (version == ConfigVersion)
        {
            var switchSeq = reader.Int64();
            var offset = reader.Int64();
            var json = reader.Bytes();
            try
            {
                setting = new StreamFilterSetting(json is null ? null : StreamFilterConfig.Parse(json), switchSeq, offset);
            }
            catch (StreamConfigException e)
            {
                throw new FormatException($"Stream checkpoint holds an invalid filter config: {e.Message}");
            }
        }

        reader.End();
        if (nextSeq < 0 || held?.Any(c => c.Seq <= nextSeq) == true)
        {
            throw new FormatException("Stream checkpoint seqs are inconsistent.");
        }

        return new StreamCheckpoint(nextSeq, state, held ?? (IReadOnlyList<PendingChunk>)[], setting);
    }

    private ref struct Writer(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _position;

        public void Byte(byte value) => _buffer[_position++] = value;

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer[_position..], value);
            _position += 4;
        }

        public void Int64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer[_position..], value);
            _position += 8;
        }

        public void Bytes(byte[]? value)
        {
            Int32(value?.Length ?? -1);
            value?.CopyTo(_buffer[_position..]);
            _position += value?.Length ?? 0;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public byte Byte() => _position < _data.Length ? _data[_position++] : throw Truncated();

        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public int Count()
        {
            var count = Int32();
            return count >= 0 && count <= _data.Length - _position ? count : throw new FormatException($"Bad count {count}.");
        }

        public byte[]? Bytes()
        {
            var length = Int32();
            return length == -1 ? null : length >= 0 ? Take(length).ToArray() : throw new FormatException($"Bad length {length}.");
        }

        public readonly void End()
        {
            if (_position != _data.Length)
            {
                throw new FormatException($"{_data.Length - _position} unexpected trailing bytes.");
            }
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > _data.Length - _position)
            {
                throw Truncated();
            }

            var slice = _data.Slice(_position, count);
            _position += count;
            return slice;
        }

        private static FormatException Truncated() => new("Stream checkpoint is truncated.");
    }
}

/// <summary>
/// A partition's progress in the changelog, written last in every transaction that touched the partition:
/// the input offset to resume from and where the output partition ended before that transaction (a restore scans
/// the output from there to learn which outputs are already visible, see docs/processor.md).
/// </summary>
public sealed record PartitionCheckpoint(long NextInputOffset, long OutputScanFrom)
{
    /// <summary>Changelog key of partition checkpoints: stream ids are never empty, so it cannot collide.</summary>
    public const string Key = "";

    public byte[] Serialize()
    {
        var buffer = new byte[17];
        buffer[0] = 1;
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(1), NextInputOffset);
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(9), OutputScanFrom);
        return buffer;
    }

    public static PartitionCheckpoint Deserialize(ReadOnlySpan<byte> data)
        => data.Length == 17 && data[0] == 1
            ? new PartitionCheckpoint(BinaryPrimitives.ReadInt64LittleEndian(data[1..]), BinaryPrimitives.ReadInt64LittleEndian(data[9..]))
            : throw new FormatException("Not a partition checkpoint (version 1, 17 bytes).");
}
