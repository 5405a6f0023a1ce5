using System.Globalization;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using SignalPipeline.Filters;

namespace FilterService;

/// <summary>
/// The algorithm service's HTTP contract (docs/filter-api.md): <c>POST /{algorithm}/audio/run</c>,
/// <c>POST /{algorithm}/audio/batch</c> and <c>GET /algorithms</c>. Every endpoint is a pure function of its request:
/// the stream's state travels in the request and the response, nothing is kept between calls.
/// </summary>
public static class FilterEndpoints
{
    public static IEndpointRouteBuilder MapFilterEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/algorithms", GetAlgorithms);
        app.MapPost("/{algorithm}/audio/run", RunAsync);
        app.MapPost("/{algorithm}/audio/batch", BatchAsync);
        return app;
    }

    /// <summary>
    /// An answer that had begun when FilterService:RequestTimeout ran out (a client reading a large answer slowly): no
    /// 503 can follow its 200, so the connection is cut, and the request is counted as <c>timeout</c> as the ones answered
    /// 503 are. Left to the timeout middleware, which rethrows once the answer has begun, it was cut and counted nowhere.
    /// </summary>
    private static bool AnswerCutAtTimeout(HttpContext context, FilterServiceMetrics metrics)
    {
        if (!context.Response.HasStarted || context.Features.Get<IHttpRequestTimeoutFeature>() is not { RequestTimeoutToken.IsCancellationRequested: true })
        {
            return false;
        }

        metrics.Rejected("timeout");
        context.Abort();
        return true;
    }

    private static IResult GetAlgorithms() => Results.Json(AlgorithmCatalog.Describe(FilterFactory.Algorithms));

    private static async Task RunAsync(string algorithm, HttpContext context, IOptions<FilterServiceOptions> options, FilterServiceMetrics metrics)
    {
        var cancellationToken = context.RequestAborted;
        var limits = options.Value;
        try
        {
            var name = ResolveAlgorithm(algorithm);
            var binary = RequestMediaType.ForRun(context.Request.ContentType);
            using var body = await RequestBody.TakeAsync(context, limits.MaxRequestBodyBytes, cancellationToken);
            using var input = new SampleList(binary ? 16 : body.Length / 8, limits.MaxSamplesPerRequest);
            var request = binary ? ReadBinary(context.Request, body.Span, input) : FilterRequest.ParseRun(body.Span, input);

            using var output = new SampleList(input.Count);
            // The binary form takes its state from the header, or else from the query's 'state'.
            var stateField = binary && !string.IsNullOrEmpty(context.Request.Headers[FilterResponseWriter.StateHeader])
                ? FilterResponseWriter.StateHeader
                : "state";
            var result = Filter(name, request.Parameters, request.Items[0], input, output, itemPath: null, stateField, cancellationToken);
            if (binary)
            {
                await FilterResponseWriter.WriteBinaryAsync(context.Response, name, output.Array, result, cancellationToken);
            }
            else
            {
                await FilterResponseWriter.WriteRunAsync(context.Response, name, output.Array, result, cancellationToken);
            }
        }
        catch (FilterRequestException ex) when (!context.Response.HasStarted)
        {
            await ProblemAsync(context, metrics, ex);
        }
        catch (OperationCanceledException) when (AnswerCutAtTimeout(context, metrics))
        {
        }
    }

    private static async Task BatchAsync(string algorithm, HttpContext context, IOptions<FilterServiceOptions> options, FilterServiceMetrics metrics)
    {
        var cancellationToken = context.RequestAborted;
        var limits = options.Value;
        try
        {
            var name = ResolveAlgorithm(algorithm);
            var binary = RequestMediaType.ForBatch(context.Request.ContentType);
            if (binary && context.Request.Query.ContainsKey("state"))
            {
                // Not a parameter: said as what it is, not as "must be a finite number" (the query's names are case-insensitive).
                throw FilterRequestException.BadRequest(
                    "A binary batch carries each item's state in the body (s bytes after the item's n); the 'state' query parameter is only for the binary /audio/run.");
            }

            // Decided before a large body is read: a request whose answer no form can satisfy costs nothing more.
            var binaryAnswer = AnswerMediaType.ForBatch(context.Request.Headers.Accept, binary);
            using var body = await RequestBody.TakeAsync(context, limits.MaxRequestBodyBytes, cancellationToken);
            using var input = new SampleList(body.Length / 8, limits.MaxSamplesPerRequest);
            var request = binary
                ? BinaryBatch.ParseRequest(body.Span, ReadQueryParameters(context.Request, skip: null), input, limits.MaxBatchItems)
                : FilterRequest.ParseBatch(body.Span, input, limits.MaxBatchItems);
            using var output = new SampleList(input.Count);

            // The parameters are the whole batch's, so a bad one is named without an item.
            Create(name, request.Parameters, prefix: "");

            var results = new FilterResult[request.Items.Count];
            long stateBytes = 0;
            for (var i = 0; i < results.Length; i++)
            {
                results[i] = Filter(name, request.Parameters, request.Items[i], input, output, itemPath: $"items[{i}]", stateField: $"items[{i}].state", cancellationToken);
                stateBytes += results[i].State.Length;
                if (stateBytes > limits.MaxStateBytesPerRequest)
                {
                    throw FilterRequestException.TooLarge("state_bytes",
                        $"The states of items[0..{i}] already take {stateBytes} bytes; the limit (FilterService:MaxStateBytesPerRequest) is "
                        + $"{limits.MaxStateBytesPerRequest} bytes per request: send fewer items per batch.");
                }
            }

            if (binaryAnswer)
            {
                await FilterResponseWriter.WriteBinaryBatchAsync(context.Response, name, output.Array, results, cancellationToken);
            }
            else
            {
                await FilterResponseWriter.WriteBatchAsync(context.Response, name, output.Array, results, cancellationToken);
            }
        }
        catch (FilterRequestException ex) when (!context.Response.HasStarted)
        {
            await ProblemAsync(context, metrics, ex);
        }
        catch (OperationCanceledException) when (AnswerCutAtTimeout(context, metrics))
        {
        }
    }

    /// <summary>The problem answer of a refused request, counted under its limit (the endpoints' and the admission's read-ahead).</summary>
    internal static Task ProblemAsync(HttpContext context, FilterServiceMetrics metrics, FilterRequestException ex)
    {
        if (ex.Limit is { } limit)
        {
            metrics.Rejected(limit);
        }

        return Results.Problem(ex.Message, statusCode: ex.StatusCode, title: ex.Title).ExecuteAsync(context);
    }

    // Filtering checks for a gone client (or the request timeout) this often: a 2-million-sample rls(64) run takes seconds.
    private const int SamplesPerCancellationCheck = 16384;

    /// <summary>A new filter from the request's parameters; a bad one is a 400 naming it (after <paramref name="prefix"/>).</summary>
    private static IStreamFilter Create(string algorithm, Dictionary<string, double>? parameters, string prefix)
    {
        try
        {
            return FilterFactory.Create(algorithm, parameters);
        }
        catch (FilterParameterException ex)
        {
            throw new FilterRequestException(StatusCodes.Status400BadRequest, "Invalid filter parameter", prefix + MessageOf(ex));
        }
    }

    /// <summary>Runs one item through a new filter (from params) or a restored one (from its state, named <paramref name="stateField"/>).</summary>
    private static FilterResult Filter(string algorithm, Dictionary<string, double>? parameters, FilterRequestItem item,
        SampleList input, SampleList output, string? itemPath, string stateField, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var prefix = itemPath is null ? "" : itemPath + ": ";
        // Params are validated even when a state is given (a typo should not pass silently), but the state wins:
        // it carries the parameters the stream started with.
        var filter = Create(algorithm, parameters, prefix);
        if (item.State is not null)
        {
            try
            {
                filter = FilterFactory.Restore(item.State, algorithm);
            }
            catch (InvalidFilterStateException ex)
            {
                throw new FilterRequestException(StatusCodes.Status400BadRequest, "Invalid filter state", prefix + MessageOf(ex));
            }

            // The CRC makes a state tamper-evident against accidents, not against a client who writes one: a count no
            // stream reaches (2^63 - 1 samples is 292,000 years at 1 MHz) would wrap to a negative one in the answer.
            if (filter.SamplesProcessed > long.MaxValue - item.Length)
            {
                throw new FilterRequestException(StatusCodes.Status400BadRequest, "Invalid filter state",
                    $"{stateField}: the filter state claims {filter.SamplesProcessed} samples processed, and {item.Length} more would "
                    + $"overflow its sample count (at most {long.MaxValue}): send the state a previous call returned.");
            }
        }

        var offset = output.Count;
        var filtered = output.Append(item.Length);
        // Chunked equals whole, bit for bit (IStreamFilter's contract), so slicing the run changes nothing but the checks.
        for (var start = 0; start < item.Length; start += SamplesPerCancellationCheck)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var length = Math.Min(SamplesPerCancellationCheck, item.Length - start);
            filter.Process(input.Array.AsSpan(item.Offset + start, length), filtered.Slice(start, length));
        }

        var bad = BinaryBatch.IndexOfNonFinite(filtered);
        if (bad >= 0)
        {
            throw new FilterRequestException(StatusCodes.Status422UnprocessableEntity, "Filter output is not finite",
                $"{prefix}the {algorithm} filter's output at sample {bad} is not finite: the input's magnitude, the parameters or the state carried over take it beyond the range of a double (docs/filters.md).");
        }

        // A state the restore refuses would be answered 200 and its next call refused (400): an lms step after an input
        // near 1e300 holds an infinity while the outputs are still finite. Its next output would not be, so the call is
        // refused now, as a non-finite output is, and the client keeps the state it sent.
        if (!filter.StateIsFinite)
        {
            throw new FilterRequestException(StatusCodes.Status422UnprocessableEntity, "Filter state is not finite",
                $"{prefix}the {algorithm} filter's state after its last sample ({item.Length - 1}) is not finite, so the stream could not go on from it: the input's magnitude, the parameters or the state carried over take it beyond the range of a double (docs/filters.md).");
        }

        return new FilterResult(offset, item.Length, filter.SaveState());
    }

    private static string ResolveAlgorithm(string algorithm)
        => FilterFactory.Find(algorithm)?.Name ?? throw new FilterRequestException(StatusCodes.Status404NotFound, "Unknown algorithm",
            $"Unknown filter algorithm '{algorithm}'. Known: {FilterFactory.KnownNames}.");

    /// <summary>Binary request: the body is little-endian float64 samples; params are query values, the state a header (or <c>?state=</c>).</summary>
    private static FilterRequest ReadBinary(HttpRequest request, ReadOnlySpan<byte> body, SampleList samples)
    {
        if (body.Length == 0 || body.Length % sizeof(double) != 0)
        {
            throw FilterRequestException.BadRequest(
                $"An application/octet-stream body must be a non-empty whole number of little-endian float64 samples; got {body.Length} bytes.");
        }

        var signal = samples.Append(body.Length / sizeof(double));
        BinaryBatch.ReadSamples(body, signal);
        var bad = BinaryBatch.IndexOfNonFinite(signal);
        if (bad >= 0)
        {
            throw FilterRequestException.BadRequest($"signal[{bad}] is not a finite number (NaN or infinity).");
        }

        var parameters = ReadQueryParameters(request, skip: "state");
        var stateHeader = request.Headers[FilterResponseWriter.StateHeader];
        var stateQuery = request.Query["state"];
        if (stateHeader.Count > 1)
        {
            throw FilterRequestException.BadRequest($"The {FilterResponseWriter.StateHeader} header is given {Times(stateHeader.Count)}: send one state.");
        }

        if (!StringValues.IsNullOrEmpty(stateHeader) && !StringValues.IsNullOrEmpty(stateQuery))
        {
            throw FilterRequestException.BadRequest(
                $"The state is given both in the {FilterResponseWriter.StateHeader} header and in the 'state' query parameter: send it once.");
        }

        string? stateText = stateHeader;
        var stateSource = $"{FilterResponseWriter.StateHeader} header";
        if (StringValues.IsNullOrEmpty(stateHeader))
        {
            stateText = stateQuery;
            stateSource = "'state' query parameter (URL-encoded)";
        }

        byte[]? state = null;
        if (!string.IsNullOrEmpty(stateText))
        {
            state = new byte[stateText.Length * 3 / 4 + 3];
            if (!Convert.TryFromBase64String(stateText, state, out var written))
            {
                throw FilterRequestException.BadRequest(
                    $"The {stateSource} must be the base64 state returned by a previous call.");
            }

            state = state[..written];
        }

        var result = new FilterRequest();
        result.SetSingleItem(parameters, new FilterRequestItem(0, signal.Length, state));
        return result;
    }

    /// <summary>The binary forms' parameters: every query value (except <paramref name="skip"/>) is a finite number.</summary>
    private static Dictionary<string, double>? ReadQueryParameters(HttpRequest request, string? skip)
    {
        Dictionary<string, double>? parameters = null;
        foreach (var (key, values) in request.Query)
        {
            // The query collection merges names case-insensitively, as parameter names are: ?q=1&Q=2 is one key, two values.
            if (values.Count > 1)
            {
                throw FilterRequestException.BadRequest($"Query parameter '{key}' is given {Times(values.Count)} (parameter names are case-insensitive).");
            }

            if (string.Equals(key, skip, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!double.TryParse(values.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                throw FilterRequestException.BadRequest($"Query parameter '{key}' must be a finite number; got '{values}'.");
            }

            (parameters ??= new Dictionary<string, double>(StringComparer.Ordinal))[key] = value;
        }

        return parameters;
    }

    private static string Times(int count) => count == 2 ? "twice" : $"{count} times";

    // ArgumentException appends " (Parameter 'x')" to the message; the library's message already names the parameter.
    private static string MessageOf(ArgumentException ex)
        => ex.ParamName is { } name && ex.Message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal)
            ? ex.Message[..^$" (Parameter '{name}')".Length]
            : ex.Message;
}
