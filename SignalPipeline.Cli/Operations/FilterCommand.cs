using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using SignalPipeline.Cli.Audio;
using SignalPipeline.Filters;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// <c>signal-pipeline filter</c>: a file through the HTTP gateway in one go, for the guide's curl users. Sends
/// float64 chunks to <c>POST /{algorithm}/audio/run</c>, passing each answer's state to the next call, so the output
/// equals one call over the whole signal, bit for bit, whatever the chunk size.
/// </summary>
public static class FilterCommand
{
    public static Command Create()
    {
        var algorithm = new Option<string>("--algorithm", "-a") { Description = FilterFactory.NamesOr + ".", DefaultValueFactory = _ => "kalman" };
        var file = new Option<string?>("--file", "-f") { Description = "Text input (one number per line or CSV, see --column); '-' or neither --file nor --wav: stdin." };
        var column = new Option<string?>("--column") { Description = "CSV column: a 0-based index or a header name (default 0)." };
        var wav = new Option<string?>("--wav") { Description = "WAV input (see produce --wav)." };
        var channel = new Option<int?>("--channel") { Description = "WAV channel, 0-based (required for more than one channel)." };
        var parameters = new Option<string[]>("--param", "-p") { Description = "NAME=VALUE filter parameter, e.g. q=1e-4 (repeatable; GET /algorithms lists them)." };
        var gateway = new Option<string>("--gateway") { Description = "The gateway (or one filter service).", DefaultValueFactory = _ => "http://localhost:8000" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the filtered samples here, one per line (default: stdout)." };
        var wavOut = new Option<string?>("--wav-out") { Description = "Write the filtered samples to this WAV file instead (at the input WAV's rate, or --sample-rate)." };
        var wavFormat = new Option<string>("--wav-format") { Description = "float32 or pcm16.", DefaultValueFactory = _ => "float32" };
        wavFormat.AcceptOnlyFromAmong("float32", "pcm16");
        var sampleRate = new Option<int?>("--sample-rate") { Description = "Sample rate of --wav-out for text input." };
        var chunkSize = new Option<int>("--chunk-size") { Description = "Samples per request, 1..1000000.", DefaultValueFactory = _ => 65_536 };
        var command = new Command("filter", "Filter a file through the HTTP gateway (one-shot, the guide's curl route): text or WAV in, text or WAV out.")
        {
            algorithm, file, column, wav, channel, parameters, gateway, output, wavOut, wavFormat, sampleRate, chunkSize,
        };
        VerbAction.Set(command, async (parse, verb, cancellationToken) =>
        {
            var size = parse.GetValue(chunkSize);
            if (size is < 1 or > 1_000_000)
            {
                throw new UsageException($"--chunk-size must be between 1 and 1000000, was {size}.");
            }

            // Every option checked before the input is read or anything is sent (as produce does).
            if (parse.GetValue(wav) is not null && parse.GetValue(file) is not null)
            {
                throw new UsageException("give --file or --wav, not both.");
            }

            if (parse.GetValue(channel) is not null && parse.GetValue(wav) is null)
            {
                throw new UsageException("--channel is for --wav input.");
            }

            if (parse.GetValue(sampleRate) is { } givenRate && givenRate < 1)
            {
                throw new UsageException($"--sample-rate must be a positive number of Hz, was {givenRate}.");
            }

            // One output: with both, the text file was silently never written.
            if (parse.GetValue(wavOut) is not null && parse.GetValue(output) is not null)
            {
                throw new UsageException("give --output or --wav-out, not both.");
            }

            if (parse.GetValue(wavOut) is not null && parse.GetValue(wav) is null && parse.GetValue(sampleRate) is null)
            {
                throw new UsageException("--wav-out needs --sample-rate for text input.");
            }

            var query = Query(parse.GetValue(parameters) ?? []);
            if (!Uri.TryCreate(parse.GetValue(gateway), UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
            {
                throw new UsageException($"--gateway '{parse.GetValue(gateway)}' is not an absolute http(s) URL.");
            }

            var (samples, rate, name) = Read(parse.GetValue(file), parse.GetValue(column), parse.GetValue(wav), parse.GetValue(channel));
            var wavPath = parse.GetValue(wavOut);
            var hz = parse.GetValue(sampleRate) ?? rate ?? 0;
            var target = parse.GetValue(output);
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(100) };
            // Read, sent and written a chunk at a time, so memory does not grow with the input. The output is opened at
            // the first answer: input or an option refused before it leaves no file.
            WavWriter? wavFile = null;
            StreamWriter? textFile = null;
            long written = 0;
            try
            {
                await foreach (var chunk in new GatewayFilter(http, parse.GetValue(algorithm)!, query).RunAsync(samples, size, cancellationToken))
                {
                    if (wavPath is not null)
                    {
                        wavFile ??= new WavWriter(wavPath, hz, WavStreamSink.ParseFormat(parse.GetValue(wavFormat)!));
                        wavFile.Write(chunk);
                    }
                    else
                    {
                        var text = target is null ? verb.Out : textFile ??= new StreamWriter(target);
                        foreach (var value in chunk)
                        {
                            await text.WriteLineAsync(value.ToString("R", CultureInfo.InvariantCulture));
                        }
                    }

                    written += chunk.Length;
                }
            }
            catch (Exception) when (written > 0)
            {
                verb.Error.WriteLine($"{Counted.Of(written, "filtered sample")} {Counted.Was(written)} written to {wavPath ?? target ?? "stdout"} before the error below; the rest were not.");
                throw;
            }
            finally
            {
                wavFile?.Dispose();
                if (textFile is not null)
                {
                    await textFile.DisposeAsync();
                }
            }

            if (written == 0)
            {
                throw new UsageException($"{name} holds no samples.");
            }

            if (wavPath is not null)
            {
                verb.Error.WriteLine($"Wrote {Counted.Of(written, "filtered sample")} to {wavPath} at {hz} Hz.");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The input's samples, read as they are enumerated; a WAV file's header (and rate) is read and checked now.</summary>
    private static (IEnumerable<double> Samples, int? Rate, string Name) Read(string? file, string? column, string? wav, int? channel)
    {
        if (wav is not null)
        {
            var audio = WavSignal.Read(wav, channel);
            return (audio.Samples, audio.SampleRate, wav);
        }

        return (SignalTextReader.ReadFile(file, column), null, file is null or "-" ? "stdin" : file);
    }

    private static string Query(string[] parameters)
    {
        var pairs = parameters.Select(p => p.Split('=', 2)).ToList();
        var bad = pairs.FirstOrDefault(p => p.Length != 2 || p[0].Length == 0);
        return bad is not null
            ? throw new UsageException($"--param '{string.Join('=', bad)}' must be NAME=VALUE.")
            : string.Join('&', pairs.Select(p => $"{Uri.EscapeDataString(p[0])}={Uri.EscapeDataString(p[1])}"));
    }
}

/// <summary>The binary <c>/audio/run</c> call per chunk, the state carried in <c>X-Filter-State</c>.</summary>
public sealed class GatewayFilter(HttpClient http, string algorithm, string query)
{
    private const string StateHeader = "X-Filter-State";

    /// <summary>The filtered samples, a chunk per call, each returned before the next chunk of <paramref name="samples"/> is read.</summary>
    public async IAsyncEnumerable<double[]> RunAsync(IEnumerable<double> samples, int chunkSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? state = null;
        var path = $"/{Uri.EscapeDataString(algorithm)}/audio/run" + (query.Length > 0 ? "?" + query : string.Empty);
        foreach (var chunk in samples.Chunk(chunkSize))
        {
            var count = chunk.Length;
            var body = new byte[count * 8];
            for (var i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(body.AsSpan(i * 8), chunk[i]);
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            if (state is not null)
            {
                request.Headers.Add(StateHeader, state);
            }

            using var response = await http.SendAsync(request, cancellationToken);
            var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var detail = Problem(answer) ?? response.ReasonPhrase;
                var message = $"{(int)response.StatusCode} from {http.BaseAddress}{path.TrimStart('/')}: {detail}";
                // A 4xx names what is wrong with what we sent (an unknown algorithm or parameter): bad input.
                throw (int)response.StatusCode is >= 400 and < 500 ? new UsageException(message) : new HttpRequestException(message);
            }

            if (answer.Length != count * 8)
            {
                throw new HttpRequestException($"{path}: answer of {answer.Length} bytes for {Counted.Of(count, "sample")}.");
            }

            var filtered = new double[count];
            for (var i = 0; i < count; i++)
            {
                filtered[i] = BinaryPrimitives.ReadDoubleLittleEndian(answer.AsSpan(i * 8));
            }

            state = response.Headers.TryGetValues(StateHeader, out var values) ? values.FirstOrDefault() : null;
            yield return filtered;
        }
    }

    private static string? Problem(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("detail", out var detail) ? detail.GetString()
                : json.RootElement.TryGetProperty("title", out var title) ? title.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
