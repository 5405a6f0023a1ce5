using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Filters;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// What the chaos test sent (good chunks per stream, every poison record, the flood streams) and the check of what came
/// out against it. A poison is recognised in sample-dlq by its value (each is unique), so the check does not depend on
/// how the processor numbers it. Poisons that decode (non-finite output, output too large) take a seq of their stream,
/// which then counts as done: the stream's reference skips it. Poisons whose seq could be read or not depending on how
/// far decoding gets go to streams of their own, so no reading of "seq counts as done" can drop a good chunk. A flood
/// (<c>too-many-streams</c>) is <paramref name="floodStreams"/> new streams at once.
/// </summary>
internal sealed class ChaosLedger(int messageMaxBytes, int floodStreams = 8)
{
    public const string TooManyStreams = "too-many-streams";

    /// <summary>Every kind, in the order they are sent. A filter exception ("filter-failed") has no black-box trigger with
    /// the local filters, so it is left to the processor's unit tests.</summary>
    public static readonly string[] Kinds =
    [
        "non-finite-output", "malformed-json", "non-finite-sample", "output-too-large", "wrong-type", "empty-signal",
        "seq-out-of-range", "unknown-content-type", "too-many-samples", "negative-seq", "stream-id-mismatch", TooManyStreams,
    ];

    private readonly object _lock = new();
    private readonly Dictionary<string, List<SampleChunk>> _good = [];
    private readonly Dictionary<string, long> _nextSeq = [];
    private readonly Dictionary<string, (string Kind, string Where, string[] Codes)> _poisons = [];
    private readonly HashSet<string> _flood = [];
    private readonly HashSet<string> _kindsSent = [];

    public SampleChunk Good(string stream, int samples)
    {
        lock (_lock)
        {
            var seq = NextSeq(stream);
            var chunk = ProcessorTestKit.Chunk(stream, seq, samples, seq % 2 == 0 ? SampleFormat.Float64 : SampleFormat.Json);
            (_good.TryGetValue(stream, out var list) ? list : _good[stream] = []).Add(chunk);
            return chunk;
        }
    }

    public IReadOnlyList<string> GoodStreams
    {
        get
        {
            lock (_lock)
            {
                return [.. _good.Keys];
            }
        }
    }

    public IReadOnlyList<SampleChunk> GoodChunks(string stream)
    {
        lock (_lock)
        {
            return [.. _good[stream]];
        }
    }

    /// <summary>The <paramref name="n"/>th poison: its kind is <c>Kinds[n % Kinds.Length]</c>, sent next to <paramref name="stream"/>.</summary>
    public List<Message<byte[], byte[]>> Poison(string stream, int n)
    {
        lock (_lock)
        {
            var kind = Kinds[n % Kinds.Length];
            _kindsSent.Add(kind);
            var own = ProcessorTestKit.StreamId($"poison-{n}");
            var records = new List<Message<byte[], byte[]>>();
            switch (kind)
            {
                case "non-finite-output":
                    // A fresh stream: in steady state kalman's update is a convex combination and stays finite for any finite
                    // input; only a new stream's first samples (gain ~1) overflow. A new stream may also meet the stream cap.
                    records.Add(Json(kind, own, "seq 0", [kind, TooManyStreams], $"{{\"stream_id\":\"{own}\",\"seq\":0,\"signal\":[1.7e308,-1.7e308,1.7e308]}}"));
                    break;
                case "output-too-large":
                    // Input that fits, output (the signal's text plus 4096 filtered doubles) that does not: the processor may
                    // also refuse it up front, as more samples than it can write.
                    var seq = NextSeq(stream);
                    var signal = string.Join(",", LongDigits(n, 4096));
                    records.Add(Json(kind, stream, $"seq {seq}", [kind, Code(DecodeErrorCode.TooManySamples)], $"{{\"stream_id\":\"{stream}\",\"seq\":{seq},\"signal\":[{signal}]}}"));
                    break;
                case "seq-out-of-range":
                    records.Add(Json(kind, stream, "seq long.MaxValue", [kind], $"{{\"stream_id\":\"{stream}\",\"seq\":{long.MaxValue},\"signal\":[0.5,{n}]}}"));
                    break;
                case "malformed-json":
                    records.Add(Json(kind, stream, "", [Code(DecodeErrorCode.MalformedJson)], $"{{\"stream_id\":\"{stream}\",\"seq\":{n},\"signal\":[1,2"));
                    break;
                case "wrong-type":
                    records.Add(Json(kind, stream, "", [Code(DecodeErrorCode.WrongType)], $"{{\"stream_id\":\"{stream}\",\"seq\":\"n{n}\",\"signal\":[1]}}"));
                    break;
                case "unknown-content-type":
                    records.Add(Register(kind, stream, "", [Code(DecodeErrorCode.UnknownContentType)], new Message<byte[], byte[]>
                    {
                        Key = Encoding.UTF8.GetBytes(stream),
                        Value = Encoding.UTF8.GetBytes($"chaos {n}"),
                        Headers = new Headers { { MessageHeaders.ContentType, "text/plain"u8.ToArray() } },
                    }));
                    break;
                case "non-finite-sample":
                    var nan = SampleCodec.ToMessage(new SampleChunk(own, 0, new double[] { n, 0.5, 1 }, 8000, 1) { Format = SampleFormat.Float64 });
                    BitConverter.GetBytes(double.NaN).CopyTo(nan.Value, sizeof(double));
                    records.Add(Register(kind, own, "", [Code(DecodeErrorCode.NonFiniteSample)], nan));
                    break;
                case "too-many-samples":
                    var large = Enumerable.Range(0, ProcessorAppFixture.MaxChunkSamples + 1).Select(i => (double)(i + n)).ToArray();
                    records.Add(Register(kind, own, "", [Code(DecodeErrorCode.TooManySamples)],
                        SampleCodec.ToMessage(new SampleChunk(own, 0, large, 8000, 1) { Format = SampleFormat.Float64 })));
                    break;
                case "empty-signal":
                    records.Add(Json(kind, own, "", [Code(DecodeErrorCode.EmptySignal)], $"{{\"stream_id\":\"{own}\",\"seq\":0,\"signal\":[]}}"));
                    break;
                case "negative-seq":
                    records.Add(Json(kind, own, "", [Code(DecodeErrorCode.NegativeSeq)], $"{{\"stream_id\":\"{own}\",\"seq\":-{n},\"signal\":[1]}}"));
                    break;
                case "stream-id-mismatch":
                    records.Add(Json(kind, own, "", [Code(DecodeErrorCode.StreamIdMismatch)], $"{{\"stream_id\":\"{own}-other\",\"seq\":0,\"signal\":[1]}}"));
                    break;
                default: // too-many-streams: new streams beyond the cap; each either comes out or is dead-lettered for it
                    for (var f = 0; f < floodStreams; f++)
                    {
                        var id = ProcessorTestKit.StreamId($"flood-{n}-{f}");
                        _flood.Add(id);
                        records.Add(SampleCodec.ToMessage(new SampleChunk(id, 0, new double[] { n, f, 0.5, 0.25 }, 8000, 1) { Format = SampleFormat.Float64 }));
                    }

                    break;
            }

            return records;
        }
    }

    /// <summary>The poison kind and the codes expected for a record value, or null for a chunk that is not poison.</summary>
    public (string Kind, string[] Codes)? Expected(byte[] value)
    {
        lock (_lock)
        {
            return _poisons.TryGetValue(Hash(value), out var poison) ? (poison.Kind, poison.Codes) : null;
        }
    }

    public bool AllKindsSent(out string missing)
    {
        lock (_lock)
        {
            missing = string.Join(", ", Kinds.Except(_kindsSent));
            return missing.Length == 0;
        }
    }

    /// <summary>The kinds none of whose records was dead-lettered with the kind's own code (so the run did not exercise them).</summary>
    public List<string> KindsNotSeen(IEnumerable<ConsumeResult<byte[], byte[]>> records)
    {
        lock (_lock)
        {
            var seen = records.Where(r => r.Topic == ProcessorTestKit.DlqTopic)
                .Select(r => (Poison: _poisons.GetValueOrDefault(Hash(r.Message.Value)), Code: Header(r, MessageHeaders.DeadLetterErrorCode)))
                .Select(p => p.Poison.Codes is { } codes ? (p.Code == codes[0] ? p.Poison.Kind : null) : p.Code)
                .ToHashSet();
            return [.. Kinds.Where(k => !seen.Contains(k))];
        }
    }

    /// <summary>Everything wrong with the records read so far; empty when every (stream, seq) is where it belongs.</summary>
    public List<string> Check(IReadOnlyList<ConsumeResult<byte[], byte[]>> records)
    {
        lock (_lock)
        {
            var problems = new List<string>();
            var outputs = new Dictionary<string, List<long>>();
            var poisonSeen = new Dictionary<string, int>();
            var floodDead = new HashSet<string>();
            var where = new Dictionary<(string, long), List<string>>();
            foreach (var record in records)
            {
                var key = Encoding.UTF8.GetString(record.Message.Key ?? []);
                if (record.Topic == ProcessorTestKit.OutputTopic)
                {
                    if (!SampleCodec.TryDecodeFilteredChunk(record.Message.Key, record.Message.Value, record.Message.Headers, out var chunk, out var error, limits: new DecodeLimits { MaxSamples = 1 << 20 }))
                    {
                        problems.Add($"output record {record.TopicPartitionOffset} of key {key} does not decode: {error.Message}");
                        continue;
                    }

                    (outputs.TryGetValue(chunk.StreamId, out var seqs) ? seqs : outputs[chunk.StreamId] = []).Add(chunk.Seq);
                    (where.TryGetValue((chunk.StreamId, chunk.Seq), out var at) ? at : where[(chunk.StreamId, chunk.Seq)] = []).Add($"{record.Partition.Value}@{record.Offset.Value}");
                    continue;
                }

                var code = Header(record, MessageHeaders.DeadLetterErrorCode);
                var source = $"(dlq {record.TopicPartitionOffset}, source {Header(record, MessageHeaders.DeadLetterSourceTopic)}@{Header(record, MessageHeaders.DeadLetterSourcePartition)}/{Header(record, MessageHeaders.DeadLetterSourceOffset)}, reason '{Header(record, MessageHeaders.DeadLetterReason)}')";
                if (_poisons.TryGetValue(Hash(record.Message.Value), out var poison))
                {
                    poisonSeen[Hash(record.Message.Value)] = poisonSeen.GetValueOrDefault(Hash(record.Message.Value)) + 1;
                    if (!poison.Codes.Contains(code))
                    {
                        problems.Add($"poison {poison.Kind} of {poison.Where} dead-lettered with code '{code}', expected {string.Join(" or ", poison.Codes)} {source}");
                    }
                }
                else if (_flood.Contains(key) && code == TooManyStreams)
                {
                    floodDead.Add(key);
                }
                else
                {
                    problems.Add($"a good chunk of stream {key} was dead-lettered with code '{code}' {source}");
                }
            }

            foreach (var (stream, chunks) in _good)
            {
                var seen = outputs.GetValueOrDefault(stream) ?? [];
                var missing = chunks.Select(c => c.Seq).Except(seen).ToList();
                var duplicated = seen.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => $"{g.Key} (at output partition@offset {string.Join(", ", where[(stream, g.Key)])})").ToList();
                var unexpected = seen.Except(chunks.Select(c => c.Seq)).ToList();
                AddIf(problems, missing.Count > 0, $"stream {stream}: {missing.Count} seq(s) missing from the output, first {string.Join(",", missing.Take(5))}");
                AddIf(problems, duplicated.Count > 0, $"stream {stream}: seq(s) more than once in the output: {string.Join(", ", duplicated.Take(5))}");
                AddIf(problems, unexpected.Count > 0, $"stream {stream}: seq(s) in the output that were poison: {string.Join(",", unexpected.Take(5))}");
            }

            foreach (var (hash, poison) in _poisons.Where(p => !poisonSeen.ContainsKey(p.Key)))
            {
                problems.Add($"poison {poison.Kind} of {poison.Where} is not in {ProcessorTestKit.DlqTopic}");
            }

            // A flood chunk's fate depends on which instance holds its partition, so on the dev broker (no transaction
            // isolation) a dead letter written in a transaction that was then aborted is visible although a retry on
            // another instance wrote the output: sample-dlq is at-least-once there. The output is exactly-once everywhere.
            foreach (var stream in _flood)
            {
                var count = outputs.GetValueOrDefault(stream)?.Count ?? 0;
                AddIf(problems, count > 1 || (count == 0 && !floodDead.Contains(stream)),
                    $"flood stream {stream} seq 0: {count}x in the output, {(floodDead.Contains(stream) ? "" : "not ")}dead-lettered as {TooManyStreams}");
            }

            foreach (var stream in outputs.Keys.Where(s => !_good.ContainsKey(s) && !_flood.Contains(s)))
            {
                problems.Add($"output for stream {stream}, which only had poison");
            }

            return problems;
        }
    }

    /// <summary>Fails at once if the output-too-large poison would in fact fit: the test would then prove nothing.</summary>
    public void AssertOutputTooLargeIsTooLarge()
    {
        var input = LongDigits(0, 4096);
        var filtered = new double[input.Length];
        FilterFactory.Create("kalman").Process(input, filtered);
        var size = SampleCodec.ToMessage(new FilteredChunk("chaos-size-check-0123456789", 1, "kalman", input, filtered, 1, 1)).Value.Length;
        Assert.True(size > messageMaxBytes, $"The output-too-large poison's output is {size} bytes, not over message.max.bytes {messageMaxBytes}.");
    }

    /// <summary>Samples whose shortest round-trip text is long (17 significant digits, a sign and an exponent).</summary>
    private static double[] LongDigits(int n, int count)
    {
        var random = new Random(n);
        return [.. Enumerable.Range(0, count).Select(_ => -(1 + random.NextDouble()) * 1e-120)];
    }

    private long NextSeq(string stream)
    {
        var seq = _nextSeq.GetValueOrDefault(stream);
        _nextSeq[stream] = seq + 1;
        return seq;
    }

    private Message<byte[], byte[]> Json(string kind, string stream, string where, string[] codes, string json)
        => Register(kind, stream, where, codes, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(stream), Value = Encoding.UTF8.GetBytes(json), Headers = [] });

    private Message<byte[], byte[]> Register(string kind, string stream, string where, string[] codes, Message<byte[], byte[]> message)
    {
        _poisons.Add(Hash(message.Value), (kind, $"stream {stream} {where}".TrimEnd(), codes));
        return message;
    }

    private static string Code(DecodeErrorCode code) => new DecodeError(code, "").CodeName;

    private static string Hash(byte[] value) => Convert.ToHexString(SHA256.HashData(value));

    private static string? Header(ConsumeResult<byte[], byte[]> record, string name)
        => record.Message.Headers is { } headers && headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    private static void AddIf(List<string> problems, bool condition, string problem)
    {
        if (condition)
        {
            problems.Add(problem);
        }
    }
}
