using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace FilterProcessor.Filtering;

/// <summary>
/// Filters through the algorithm services behind the gateway: one <c>POST /{algorithm}/audio/batch</c> per batch
/// with one item per stream (its chunks concatenated, which the filters guarantee is bit-identical to chunk by chunk)
/// and the stream's state snapshot; the answer's state replaces the stream's state.
/// </summary>
public sealed class RemoteChunkFilterer(HttpClient http, string algorithm, IReadOnlyDictionary<string, double> parameters) : IChunkFilterer
{
    public async Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken)
    {
        if (work.Count == 0)
        {
            return;
        }

        // Group by stream, keeping each stream's chunks in order.
        var streams = new List<(StreamFilterHandle Stream, List<FilterWork> Items)>();
        var index = new Dictionary<StreamFilterHandle, int>(ReferenceEqualityComparer.Instance);
        foreach (var item in work)
        {
            if (!index.TryGetValue(item.Stream, out var i))
            {
                index[item.Stream] = i = streams.Count;
                streams.Add((item.Stream, []));
            }

            streams[i].Items.Add(item);
        }

        var request = new BatchRequest(parameters, [.. streams.Select(s => new BatchItem(Concat(s.Items), ToBase64(s.Stream.SaveState())))]);
        using var response = await http.PostAsJsonAsync($"/{algorithm}/audio/batch", request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"Filter service answered {(int)response.StatusCode} for {algorithm} batch: {body}", null, response.StatusCode);
        }

        var answer = await response.Content.ReadFromJsonAsync<BatchResponse>(cancellationToken)
            ?? throw new InvalidOperationException("Filter service returned an empty body.");
        if (answer.Results is null || answer.Results.Count != streams.Count)
        {
            throw new InvalidOperationException($"Filter service returned {answer.Results?.Count ?? 0} results for {streams.Count} items.");
        }

        for (var s = 0; s < streams.Count; s++)
        {
            var result = answer.Results[s];
            var filtered = result.FilteredSignal ?? throw new InvalidOperationException("A result has no filtered_signal.");
            var offset = 0;
            foreach (var item in streams[s].Items)
            {
                if (offset + item.Output.Length > filtered.Length)
                {
                    throw new InvalidOperationException("Filter service returned fewer samples than it was sent.");
                }

                filtered.AsSpan(offset, item.Output.Length).CopyTo(item.Output.Span);
                offset += item.Output.Length;
            }

            if (offset != filtered.Length)
            {
                throw new InvalidOperationException("Filter service returned more samples than it was sent.");
            }

            streams[s].Stream.SetSnapshot(Convert.FromBase64String(result.State ?? throw new InvalidOperationException("A result has no state.")));
        }
    }

    private static double[] Concat(List<FilterWork> items)
    {
        var signal = new double[items.Sum(i => i.Input.Length)];
        var offset = 0;
        foreach (var item in items)
        {
            item.Input.Span.CopyTo(signal.AsSpan(offset));
            offset += item.Input.Length;
        }

        return signal;
    }

    private static string? ToBase64(byte[]? state) => state is null ? null : Convert.ToBase64String(state);

    private sealed record BatchRequest(
        [property: JsonPropertyName("params")] IReadOnlyDictionary<string, double> Params,
        [property: JsonPropertyName("items")] IReadOnlyList<BatchItem> Items);

    private sealed record BatchItem(
        [property: JsonPropertyName("signal")] double[] Signal,
        [property: JsonPropertyName("state"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? State);

    private sealed record BatchResponse(
        [property: JsonPropertyName("algorithm")] string? Algorithm,
        [property: JsonPropertyName("results")] IReadOnlyList<BatchResult>? Results);

    private sealed record BatchResult(
        [property: JsonPropertyName("filtered_signal")] double[]? FilteredSignal,
        [property: JsonPropertyName("state")] string? State);
}
