using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SignalPipeline.Cli.Bench;

public sealed record HttpLoadResult(string Target, string Encoding, int Concurrency, long Requests, long Failures, double SamplesPerSecond, LatencySummary? Latency);

/// <summary>
/// Concurrent <c>POST /{algorithm}/audio/run</c> calls with one fixed chunk, JSON or little-endian float64, for a
/// fixed time. The first answer is checked (status and length) before timing starts.
/// </summary>
public static class HttpLoad
{
    public static async Task<HttpLoadResult> RunAsync(
        Uri baseAddress, string target, string algorithm, bool binary, int samples, int concurrency, TimeSpan warmup, TimeSpan duration,
        CancellationToken cancellationToken)
    {
        var signal = Enumerable.Range(0, samples).Select(n => Math.Sin(n * 0.01) + 0.05 * Math.Cos(n * 1.7)).ToArray();
        var body = binary ? BinaryBody(signal) : JsonBody(signal);
        var contentType = binary ? "application/octet-stream" : "application/json";
        var uri = new Uri(baseAddress, $"/{algorithm}/audio/run");

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };

        await CheckAnswerAsync(http, uri, body, contentType, binary, samples, cancellationToken);

        var latency = new LatencyRecorder();
        long requests = 0, failures = 0;
        var clock = Stopwatch.StartNew();
        var measureFrom = warmup;
        var end = warmup + duration;
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (clock.Elapsed < end && !cancellationToken.IsCancellationRequested)
            {
                var started = clock.Elapsed;
                var ok = await PostAsync(http, uri, body, contentType, cancellationToken);
                if (started < measureFrom)
                {
                    continue;
                }

                if (ok)
                {
                    Interlocked.Increment(ref requests);
                    latency.Record((clock.Elapsed - started).TotalMilliseconds);
                }
                else
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }, cancellationToken)).ToArray();
        await Task.WhenAll(workers);

        var seconds = (clock.Elapsed - measureFrom).TotalSeconds;
        return new HttpLoadResult(target, binary ? "binary" : "JSON", concurrency, requests, failures, requests * (double)samples / seconds, latency.Summarize());
    }

    private static async Task<bool> PostAsync(HttpClient http, Uri uri, byte[] body, string contentType, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        try
        {
            using var response = await http.PostAsync(uri, content, cancellationToken);
            // Read the whole answer: a proxy's cost includes streaming it back.
            await response.Content.CopyToAsync(Stream.Null, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static async Task CheckAnswerAsync(HttpClient http, Uri uri, byte[] body, string contentType, bool binary, int samples, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await http.PostAsync(uri, content, cancellationToken);
        var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {uri} answered {(int)response.StatusCode}: {Encoding.UTF8.GetString(answer)}");
        }

        var length = binary
            ? answer.Length / sizeof(double)
            : JsonDocument.Parse(answer).RootElement.GetProperty("filtered_signal").GetArrayLength();
        if (length != samples)
        {
            throw new InvalidOperationException($"POST {uri} returned {length} filtered samples for {samples}.");
        }
    }

    private static byte[] JsonBody(double[] signal)
    {
        var builder = new StringBuilder("{\"signal\":[");
        for (var i = 0; i < signal.Length; i++)
        {
            builder.Append(i == 0 ? "" : ",").Append(signal[i].ToString("R", CultureInfo.InvariantCulture));
        }

        return Encoding.UTF8.GetBytes(builder.Append("]}").ToString());
    }

    private static byte[] BinaryBody(double[] signal)
    {
        var bytes = new byte[signal.Length * sizeof(double)];
        for (var i = 0; i < signal.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * sizeof(double)), signal[i]);
        }

        return bytes;
    }
}
