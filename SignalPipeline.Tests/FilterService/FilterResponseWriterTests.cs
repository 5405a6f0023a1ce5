using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using FilterService;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace SignalPipeline.Tests.FilterService;

/// <summary>The response writer on its own: a response body that records how much is written between flushes.</summary>
public sealed class FilterResponseWriterTests
{
    // An rls order-64 state (ServiceLimits' worst case: ~1000 of them fit in MaxStateBytesPerRequest).
    private const int StateBytes = 33_836;
    private const int Items = 991;

    [Fact]
    public async Task TheBinaryBatchFlushesItsStatesAsItGoesNotOnlyItsSamples()
    {
        // Many one-sample items with large states: before, only samples counted towards a flush, so the ~33.5 MB of
        // states sat whole in the response pipe until the end (held twice, with the states' own arrays).
        var output = new double[Items];
        var results = new FilterResult[Items];
        for (var i = 0; i < Items; i++)
        {
            output[i] = i * 0.25 - 3;
            var state = new byte[StateBytes];
            Array.Fill(state, (byte)i);
            results[i] = new FilterResult(i, 1, state);
        }

        var body = new RecordingPipeWriter();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpResponseBodyFeature>(new PipeBodyFeature(body));

        await FilterResponseWriter.WriteBinaryBatchAsync(context.Response, "rls", output, results, CancellationToken.None);

        Assert.True(body.MaxUnflushed < 1 << 20, $"{body.MaxUnflushed} bytes were written before a flush (should stay under 1 MiB).");
        Assert.Equal(0, body.Unflushed);
        Assert.True(body.Flushes > 100, $"{body.Flushes} flushes");

        // The bytes on the wire are unchanged: Content-Length matches and every result reads back.
        var bytes = body.Written.WrittenSpan.ToArray();
        Assert.Equal(context.Response.ContentLength, bytes.Length);
        var read = FilterApi.ReadBinaryBatch(bytes);
        Assert.Equal(Items, read.Count);
        for (var i = 0; i < Items; i++)
        {
            Assert.Equal([output[i]], read[i].Filtered);
            Assert.Equal(results[i].State, read[i].State);
        }
    }

    [Fact]
    public async Task TheBinaryBatchOfLongItemsStillFlushesEveryFewThousandSamples()
    {
        // Two long items with small states: samples keep being sent as they are written.
        const int length = 100_000;
        var output = Enumerable.Range(0, 2 * length).Select(i => Math.Sin(i * 0.01)).ToArray();
        FilterResult[] results = [new(0, length, [1, 2, 3]), new(length, length, [4, 5])];

        var body = new RecordingPipeWriter();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpResponseBodyFeature>(new PipeBodyFeature(body));

        await FilterResponseWriter.WriteBinaryBatchAsync(context.Response, "kalman", output, results, CancellationToken.None);

        Assert.True(body.MaxUnflushed <= 2 * 8192 * sizeof(double), $"{body.MaxUnflushed} bytes were written before a flush.");
        var read = FilterApi.ReadBinaryBatch(body.Written.WrittenSpan.ToArray());
        Assert.Equal(output.AsSpan(0, length).ToArray(), read[0].Filtered);
        Assert.Equal(output.AsSpan(length, length).ToArray(), read[1].Filtered);
        Assert.Equal([4, 5], read[1].State);
    }

    [Fact]
    public async Task JsonAnswersWriteEveryDoubleAsTextThatParsesBackToItsBits()
    {
        // docs/filter-api.md: parsing filtered_signal gives the filter's doubles exactly. Utf8JsonWriter writes 2^-958 as
        // 4.104536801298376E-289, which parses to the next double.
        double[] output = [Math.ScaleB(1, -958), -0.0, double.Epsilon, double.MaxValue, 0.1 + 0.2, 1e17, -1.5e-300];
        var half = output.Length / 2;

        var run = await WriteAsync(response => FilterResponseWriter.WriteRunAsync(response, "kalman", output,
            new FilterResult(0, output.Length, [1, 2, 3]), CancellationToken.None));
        var batch = await WriteAsync(response => FilterResponseWriter.WriteBatchAsync(response, "kalman", output,
            [new FilterResult(0, half, [1]), new FilterResult(half, output.Length - half, [2])], CancellationToken.None));

        AssertBits(output, run.RootElement.GetProperty("filtered_signal"));
        var results = batch.RootElement.GetProperty("results");
        AssertBits(output[..half], results[0].GetProperty("filtered_signal"));
        AssertBits(output[half..], results[1].GetProperty("filtered_signal"));

        static void AssertBits(double[] expected, JsonElement array)
            => Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), array.EnumerateArray().Select(e => BitConverter.DoubleToInt64Bits(e.GetDouble())));
    }

    private static async Task<JsonDocument> WriteAsync(Func<HttpResponse, Task> write)
    {
        var body = new RecordingPipeWriter();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpResponseBodyFeature>(new PipeBodyFeature(body));
        await write(context.Response);
        return JsonDocument.Parse(body.Written.WrittenMemory);
    }

    /// <summary>Keeps everything written, and the largest number of bytes written between two flushes.</summary>
    private sealed class RecordingPipeWriter : PipeWriter
    {
        public ArrayBufferWriter<byte> Written { get; } = new();

        public long Unflushed { get; private set; }

        public long MaxUnflushed { get; private set; }

        public int Flushes { get; private set; }

        public override void Advance(int bytes)
        {
            Written.Advance(bytes);
            Unflushed += bytes;
            MaxUnflushed = Math.Max(MaxUnflushed, Unflushed);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => Written.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => Written.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Unflushed = 0;
            Flushes++;
            return ValueTask.FromResult(new FlushResult(isCanceled: false, isCompleted: false));
        }

        public override void CancelPendingFlush()
        {
        }

        public override void Complete(Exception? exception = null)
        {
        }
    }

    private sealed class PipeBodyFeature(PipeWriter writer) : IHttpResponseBodyFeature
    {
        public Stream Stream => writer.AsStream();

        public PipeWriter Writer => writer;

        public void DisableBuffering()
        {
        }

        public Task StartAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public Task CompleteAsync() => Task.CompletedTask;
    }
}
