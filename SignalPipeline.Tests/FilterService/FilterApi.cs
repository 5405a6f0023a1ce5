using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SignalPipeline.Tests.FilterService;

/// <summary>A small client of the filter HTTP contract (docs/filter-api.md) for tests; every call is bounded.</summary>
public static class FilterApi
{
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    public static string SignalJson(ReadOnlySpan<double> signal)
    {
        var text = new StringBuilder("[");
        for (var i = 0; i < signal.Length; i++)
        {
            text.Append(i == 0 ? "" : ",").Append(signal[i].ToString("R", CultureInfo.InvariantCulture));
        }

        return text.Append(']').ToString();
    }

    public static string RunBody(ReadOnlySpan<double> signal, string? state = null, string? paramsJson = null)
        => "{\"signal\":" + SignalJson(signal)
           + (paramsJson is null ? "" : ",\"params\":" + paramsJson)
           + (state is null ? "" : ",\"state\":\"" + state + "\"")
           + "}";

    public static async Task<HttpResponseMessage> PostJsonAsync(HttpClient client, string path, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        return await client.PostAsync(path, content).WaitAsync(CallTimeout);
    }

    /// <summary>POST /{algorithm}/audio/run; asserts 200 and returns the filtered signal and state.</summary>
    public static async Task<(double[] Filtered, string State)> RunAsync(HttpClient client, string algorithm, double[] signal,
        string? state = null, string? paramsJson = null)
    {
        var body = RunBody(signal, state, paramsJson);
        using var response = await PostJsonAsync(client, $"/{algorithm}/audio/run", body);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        Assert.Equal(algorithm, json.RootElement.GetProperty("algorithm").GetString());
        return (ReadSignal(json.RootElement.GetProperty("filtered_signal")), json.RootElement.GetProperty("state").GetString()!);
    }

    /// <summary>POST /{algorithm}/audio/run as application/octet-stream.</summary>
    public static async Task<(double[] Filtered, string State)> RunBinaryAsync(HttpClient client, string algorithm, double[] signal,
        string? state = null, string query = "")
    {
        var bytes = new byte[signal.Length * sizeof(double)];
        Buffer.BlockCopy(signal, 0, bytes, 0, bytes.Length);
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/{algorithm}/audio/run{query}") { Content = content };
        if (state is not null)
        {
            request.Headers.Add("X-Filter-State", state);
        }

        using var response = await client.SendAsync(request).WaitAsync(CallTimeout);
        var body = await response.Content.ReadAsByteArrayAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, body.Length % sizeof(double));
        var filtered = new double[body.Length / sizeof(double)];
        Buffer.BlockCopy(body, 0, filtered, 0, body.Length);
        return (filtered, response.Headers.GetValues("X-Filter-State").Single());
    }

    public const string BatchMediaType = "application/vnd.signalpipeline.filter-batch";

    /// <summary>
    /// A binary batch body written by hand from docs/filter-api.md (not with the service's or the processor's code):
    /// u32 item count, then per item u32 n, u32 s, s state bytes, n float64; all little-endian.
    /// </summary>
    public static byte[] BinaryBatchBody(params (double[] Signal, byte[]? State)[] items)
    {
        using var body = new MemoryStream();
        using var writer = new BinaryWriter(body);
        writer.Write((uint)items.Length);
        foreach (var (signal, state) in items)
        {
            writer.Write((uint)signal.Length);
            writer.Write((uint)(state?.Length ?? 0));
            writer.Write(state ?? []);
            foreach (var sample in signal)
            {
                writer.Write(sample);
            }
        }

        writer.Flush();
        return body.ToArray();
    }

    /// <summary>Reads a binary batch answer, checking that it ends exactly after its last result.</summary>
    public static List<(double[] Filtered, byte[] State)> ReadBinaryBatch(byte[] body)
    {
        using var reader = new BinaryReader(new MemoryStream(body));
        var results = new List<(double[], byte[])>();
        var count = reader.ReadUInt32();
        for (var i = 0; i < count; i++)
        {
            var n = reader.ReadUInt32();
            var s = reader.ReadUInt32();
            var state = reader.ReadBytes((int)s);
            var filtered = new double[n];
            for (var j = 0; j < n; j++)
            {
                filtered[j] = reader.ReadDouble();
            }

            results.Add((filtered, state));
        }

        Assert.Equal(body.Length, reader.BaseStream.Position);
        return results;
    }

    /// <summary>POSTs a binary batch body; returns the raw answer (status, content type, bytes).</summary>
    public static async Task<(HttpStatusCode Status, string? MediaType, byte[] Body)> PostBinaryBatchAsync(HttpClient client, string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(BatchMediaType);
        using var response = await client.PostAsync(path, content).WaitAsync(CallTimeout);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsByteArrayAsync().WaitAsync(CallTimeout));
    }

    /// <summary>The <c>type</c> of a 429 problem (docs/filter-api.md, Errors): RFC 6585, which defines the status.</summary>
    public const string TooManyRequestsType = "https://tools.ietf.org/html/rfc6585#section-4";

    /// <summary>
    /// Asserts an application/problem+json answer with <paramref name="status"/> whose detail contains
    /// <paramref name="detailPart"/> and, when given, whose <c>type</c> is <paramref name="type"/>.
    /// </summary>
    public static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? detailPart = null, string? type = null)
    {
        var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(text);
        Assert.Equal((int)status, json.RootElement.GetProperty("status").GetInt32());
        if (type is not null)
        {
            Assert.True(json.RootElement.TryGetProperty("type", out var actual), $"the problem has no 'type': {text}");
            Assert.Equal(type, actual.GetString());
        }

        if (detailPart is not null)
        {
            var detail = json.RootElement.GetProperty("detail").GetString();
            Assert.True(detail?.Contains(detailPart, StringComparison.Ordinal) == true, $"detail '{detail}' should mention '{detailPart}'");
        }
    }

    public static double[] ReadSignal(JsonElement array)
    {
        var values = new double[array.GetArrayLength()];
        var i = 0;
        foreach (var value in array.EnumerateArray())
        {
            values[i++] = value.GetDouble();
        }

        return values;
    }

    /// <summary>The library's own output for the same input: what every HTTP answer must equal bit for bit.</summary>
    public static double[] Reference(string algorithm, ReadOnlySpan<double> signal, IReadOnlyDictionary<string, double>? parameters = null)
    {
        var output = new double[signal.Length];
        SignalPipeline.Filters.FilterFactory.Create(algorithm, parameters).Process(signal, output);
        return output;
    }

    public static void AssertBitIdentical(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]),
                $"sample {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }

    /// <summary>A noisy sine: a signal every algorithm has something to do with.</summary>
    public static double[] TestSignal(int length, int seed)
    {
        var random = new Random(seed);
        var signal = new double[length];
        for (var i = 0; i < length; i++)
        {
            signal[i] = Math.Sin(i * 0.05) + 0.3 * Math.Sin(i * 0.31) + 0.1 * (random.NextDouble() - 0.5);
        }

        return signal;
    }
}
