using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace FilterProcessor.Filtering;

/// <summary>
/// Filters through the algorithm services behind the gateway with <c>POST /{algorithm}/audio/batch</c>: one item per
/// stream (its chunks concatenated, which the filters guarantee is bit-identical to chunk by chunk) with the stream's
/// state snapshot; the answer's state replaces the stream's state. A request carries at most
/// <see cref="MaxSamplesPerRequest"/> samples (the services limit bodies to 16 MiB): longer work is cut into several
/// requests at any sample, each stream continuing from the state the previous request returned.
/// </summary>
public sealed class RemoteChunkFilterer(HttpClient http, string algorithm, IReadOnlyDictionary<string, double> parameters) : IChunkFilterer
{
    public const int MaxSamplesPerRequest = 131_072;

    public async Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken)
    {
        // Each stream's pending samples, in order: the items and a cursor into them.
        var streams = new List<PendingStream>();
        var index = new Dictionary<StreamFilterHandle, PendingStream>(ReferenceEqualityComparer.Instance);
        foreach (var item in work)
        {
            if (!index.TryGetValue(item.Stream, out var stream))
            {
                index[item.Stream] = stream = new PendingStream(item.Stream);
                streams.Add(stream);
            }

            stream.Items.Add(item);
        }

        while (streams.Any(s => !s.Done))
        {
            var budget = MaxSamplesPerRequest;
            var batch = new List<(PendingStream Stream, List<(FilterWork Item, int Offset, int Length)> Segments, double[] Signal)>();
            foreach (var stream in streams.Where(s => !s.Done))
            {
                if (budget == 0)
                {
                    break;
                }

                var segments = stream.Take(budget);
                var signal = new double[segments.Sum(s => s.Length)];
                var at = 0;
                foreach (var (item, offset, length) in segments)
                {
                    item.Input.Span.Slice(offset, length).CopyTo(signal.AsSpan(at));
                    at += length;
                }

                budget -= signal.Length;
                batch.Add((stream, segments, signal));
            }

            var request = new BatchRequest(parameters, [.. batch.Select(b => new BatchItem(b.Signal, ToBase64(b.Stream.Handle.SaveState())))]);
            var answer = await SendAsync(request, cancellationToken);
            if (answer.Results is null || answer.Results.Count != batch.Count)
            {
                throw new InvalidOperationException($"Filter service returned {answer.Results?.Count ?? 0} results for {batch.Count} items.");
            }

            for (var i = 0; i < batch.Count; i++)
            {
                var result = answer.Results[i];
                var filtered = result.FilteredSignal ?? throw new InvalidOperationException("A result has no filtered_signal.");
                if (filtered.Length != batch[i].Signal.Length)
                {
                    throw new InvalidOperationException($"Filter service returned {filtered.Length} samples for {batch[i].Signal.Length}.");
                }

                var at = 0;
                foreach (var (item, offset, length) in batch[i].Segments)
                {
                    filtered.AsSpan(at, length).CopyTo(item.Output.Span.Slice(offset, length));
                    at += length;
                }

                batch[i].Stream.Handle.SetSnapshot(Convert.FromBase64String(result.State ?? throw new InvalidOperationException("A result has no state.")));
            }
        }
    }

    private async Task<BatchResponse> SendAsync(BatchRequest request, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync($"/{algorithm}/audio/batch", request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"Filter service answered {(int)response.StatusCode} for a {algorithm} batch: {body}", null, response.StatusCode);
        }

        return await response.Content.ReadFromJsonAsync<BatchResponse>(cancellationToken)
            ?? throw new InvalidOperationException("Filter service returned an empty body.");
    }

    /// <summary>One stream's work and how far requests have taken it.</summary>
    private sealed class PendingStream(StreamFilterHandle handle)
    {
        private int _item;
        private int _offset;

        public StreamFilterHandle Handle { get; } = handle;

        public List<FilterWork> Items { get; } = [];

        public bool Done => _item >= Items.Count;

        /// <summary>The next up to <paramref name="budget"/> samples, as (item, offset, length) segments.</summary>
        public List<(FilterWork Item, int Offset, int Length)> Take(int budget)
        {
            var segments = new List<(FilterWork, int, int)>();
            while (budget > 0 && !Done)
            {
                var item = Items[_item];
                var length = Math.Min(budget, item.Input.Length - _offset);
                segments.Add((item, _offset, length));
                budget -= length;
                _offset += length;
                if (_offset == item.Input.Length)
                {
                    _item++;
                    _offset = 0;
                }
            }

            return segments;
        }
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
