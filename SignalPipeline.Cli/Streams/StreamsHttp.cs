using System.CommandLine;
using System.Net;
using System.Text.Json;
using SignalPipeline.Cli.Operations;

namespace SignalPipeline.Cli.Streams;

/// <summary>
/// <c>streams list</c> and <c>streams show ID</c>: a processor instance's <c>GET /streams</c> and <c>GET /streams/{id}</c>,
/// printed as indented JSON. Any instance (or the Service in front of them) answers for any stream: one that does not
/// hold it asks the others through its instance directory (a 404 names every instance asked, a 503 one that did not answer).
/// </summary>
public static class StreamsHttp
{
    /// <summary>The processor's base address when <c>--processor</c> is not given.</summary>
    public const string UrlVariable = "PROCESSOR_URL";

    private static Option<string> ProcessorOption() => new("--processor")
    {
        Description = $"A processor instance's (or their Service's) HTTP address; any instance answers for any stream (default: {UrlVariable}).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(UrlVariable) ?? "",
    };

    public static Command List()
    {
        var processor = ProcessorOption();
        var limit = new Option<int>("--limit") { Description = "Streams to list (1-1000).", DefaultValueFactory = _ => 100 };
        var command = new Command("list", "The streams a processor instance holds, with their algorithm and position, and the live instances with their partitions.") { processor, limit };
        VerbAction.Set(command, (parse, output, cancellationToken) =>
        {
            // The processor's own range (it answers 400 outside it): named here as the option, before any call.
            var count = parse.GetValue(limit);
            if (count is < 1 or > 1000)
            {
                throw new UsageException($"--limit must be 1 to 1000, not {count}.");
            }

            return GetAsync(parse.GetValue(processor)!, $"/streams?limit={count}", output, cancellationToken);
        });
        return command;
    }

    public static Command Show()
    {
        var id = new Argument<string>("id") { Description = "The stream id." };
        var processor = ProcessorOption();
        var command = new Command("show", "What a stream's filter holds now (kalman: estimate, variance, gain; rls/lms: weights; ls: window fill), its config and position.") { id, processor };
        VerbAction.Set(command, (parse, output, cancellationToken) => GetAsync(parse.GetValue(processor)!, "/streams/" + Uri.EscapeDataString(parse.GetValue(id)!), output, cancellationToken));
        return command;
    }

    private static async Task<int> GetAsync(string baseUrl, string path, VerbOutput output, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"--processor '{baseUrl}' is not an http(s) address (or set {UrlVariable}).");
        }

        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.GetAsync(path, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            output.Error.WriteLine($"error: {(int)response.StatusCode} {response.ReasonPhrase}: {Detail(body)}");
            return ExitCodes.Failure;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            // An address that is no processor's (the dashboard, the live page) can answer 200 with an HTML page.
            output.Error.WriteLine($"error: {new Uri(address, path)} answered 200 with something that is not JSON: is --processor the address of a filter-kafka-processor?");
            return ExitCodes.Failure;
        }

        using (document)
        {
            output.Out.WriteLine(JsonSerializer.Serialize(document.RootElement, new JsonSerializerOptions { WriteIndented = true }));
        }

        return ExitCodes.Success;
    }

    private static string Detail(string body)
    {
        try
        {
            using var problem = JsonDocument.Parse(body);
            return problem.RootElement.TryGetProperty("detail", out var detail) ? detail.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }
}
