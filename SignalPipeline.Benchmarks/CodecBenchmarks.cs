using System.Text.Json;
using System.Text.Json.Serialization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Confluent.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Benchmarks;

/// <summary>
/// SampleCodec on a 256- and a 4096-sample chunk, each operation against the straightforward way to do it in the same run:
/// System.Text.Json's JsonSerializer with a POCO for JSON, a BinaryWriter/BinaryReader loop for binary.
/// Encoders produce the byte[] a Kafka producer needs (the codec's ToMessage also builds key and headers).
/// Run: dotnet run -c Release --project SignalPipeline.Benchmarks -- --filter '*CodecBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CodecBenchmarks
{
    /// <summary>Samples per chunk: 256 is the generator's default (issue 14 measures per record there), 4096 the bench's.</summary>
    [Params(256, 4096)]
    public int Samples { get; set; }

    private readonly SampleBuffer _buffer = new();
    private SampleChunk _chunk = null!;
    private SampleChunk _chunkF64 = null!;
    private ChunkPoco _poco = null!;
    private byte[] _key = null!;
    private byte[] _json = null!;
    private byte[] _f64 = null!;
    private Headers _f64Headers = null!;
    private byte[] _f32 = null!;
    private Headers _f32Headers = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        var signal = new double[Samples];
        for (var i = 0; i < signal.Length; i++)
        {
            // A noisy sine: full-precision doubles, as a filter writes them (17 significant digits in JSON).
            signal[i] = Math.Sin(i * 0.05) + 0.05 * (random.NextDouble() - 0.5);
        }

        _chunk = new SampleChunk("sensor-1", 42, signal, 8000, 1_700_000_000_000);
        _chunkF64 = _chunk with { Format = SampleFormat.Float64 };
        _poco = new ChunkPoco { StreamId = "sensor-1", Seq = 42, Signal = signal, SampleRate = 8000, TimestampMs = 1_700_000_000_000 };
        _key = "sensor-1"u8.ToArray();
        _json = SampleCodec.ToMessage(_chunk).Value;
        var f64 = SampleCodec.ToMessage(_chunk with { Format = SampleFormat.Float64 });
        (_f64, _f64Headers) = (f64.Value, f64.Headers);
        var f32 = SampleCodec.ToMessage(_chunk with { Format = SampleFormat.Float32 });
        (_f32, _f32Headers) = (f32.Value, f32.Headers);
    }

    [GlobalCleanup]
    public void Cleanup() => _buffer.Dispose();

    [Benchmark(Baseline = true), BenchmarkCategory("json-encode")]
    public int JsonEncode_JsonSerializer() => JsonSerializer.SerializeToUtf8Bytes(_poco, PocoContext.Default.ChunkPoco).Length;

    [Benchmark, BenchmarkCategory("json-encode")]
    public int JsonEncode_SampleCodec() => SampleCodec.ToMessage(_chunk).Value.Length;

    [Benchmark(Baseline = true), BenchmarkCategory("json-decode")]
    public int JsonDecode_JsonSerializer() => JsonSerializer.Deserialize(_json, PocoContext.Default.ChunkPoco)!.Signal.Length;

    [Benchmark, BenchmarkCategory("json-decode")]
    public int JsonDecode_SampleCodec()
        => SampleCodec.TryDecodeSampleChunk(_key, _json, null, out var chunk, out _, _buffer) ? chunk.Signal.Length : -1;

    [Benchmark(Baseline = true), BenchmarkCategory("f64-encode")]
    public int F64Encode_BinaryWriter()
    {
        using var stream = new MemoryStream(Samples * sizeof(double));
        using var writer = new BinaryWriter(stream);
        foreach (var sample in _chunk.Signal.Span)
        {
            writer.Write(sample);
        }

        writer.Flush();
        return stream.ToArray().Length;
    }

    [Benchmark, BenchmarkCategory("f64-encode")]
    public int F64Encode_SampleCodec() => SampleCodec.ToMessage(_chunkF64).Value.Length;

    [Benchmark(Baseline = true), BenchmarkCategory("f64-decode")]
    public int F64Decode_BinaryReader()
    {
        using var reader = new BinaryReader(new MemoryStream(_f64, writable: false));
        var samples = new double[_f64.Length / sizeof(double)];
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = reader.ReadDouble();
        }

        return samples.Length;
    }

    [Benchmark, BenchmarkCategory("f64-decode")]
    public int F64Decode_SampleCodec()
        => SampleCodec.TryDecodeSampleChunk(_key, _f64, _f64Headers, out var chunk, out _, _buffer) ? chunk.Signal.Length : -1;

    [Benchmark(Baseline = true), BenchmarkCategory("f32-decode")]
    public int F32Decode_BinaryReader()
    {
        using var reader = new BinaryReader(new MemoryStream(_f32, writable: false));
        var samples = new double[_f32.Length / sizeof(float)];
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = reader.ReadSingle();
        }

        return samples.Length;
    }

    [Benchmark, BenchmarkCategory("f32-decode")]
    public int F32Decode_SampleCodec()
        => SampleCodec.TryDecodeSampleChunk(_key, _f32, _f32Headers, out var chunk, out _, _buffer) ? chunk.Signal.Length : -1;
}

/// <summary>The baseline's model of the input chunk: what one would write first with System.Text.Json.</summary>
public sealed class ChunkPoco
{
    [JsonPropertyName("stream_id")]
    public string StreamId { get; set; } = "";

    [JsonPropertyName("seq")]
    public long Seq { get; set; }

    [JsonPropertyName("signal")]
    public double[] Signal { get; set; } = [];

    [JsonPropertyName("sample_rate")]
    public double? SampleRate { get; set; }

    [JsonPropertyName("timestamp_ms")]
    public long? TimestampMs { get; set; }
}

/// <summary>Source-generated metadata, so the baseline is the fast form of JsonSerializer, not the reflection one.</summary>
[JsonSerializable(typeof(ChunkPoco))]
internal sealed partial class PocoContext : JsonSerializerContext;
