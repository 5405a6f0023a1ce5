using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;
using SignalPipeline.Filters;

namespace FilterKafkaProcessor.Filtering;

/// <summary>
/// Filters through the algorithm services behind the gateway with the binary form of
/// <c>POST /{algorithm}/audio/batch</c> (docs/filter-api.md, media type <see cref="BatchMediaType"/>): one item per
/// stream (its chunks concatenated, which the filters guarantee is bit-identical to chunk by chunk) with the stream's
/// state snapshot; the answer's state replaces the stream's state. Samples travel as raw little-endian float64, written
/// straight from the chunks' input into a pooled request buffer and copied from a pooled response buffer straight into
/// the chunks' output. A request carries at most <see cref="MaxSamplesPerRequest"/> samples and <see cref="MaxRequestBytes"/>
/// of samples and states (the services limit bodies to 16 MiB) and <see cref="MaxItemsPerRequest"/> streams: longer work is cut into several requests at any sample, each stream continuing from the state the
/// previous request returned. A stream with its own config (<see cref="StreamFilterHandle.Setting"/>) goes to its own
/// algorithm's path, and always with a state (its initial state at first), so the service filters it with the stream's
/// parameters; only default streams without state take the deployment's parameters from the query string.
/// </summary>
public sealed class RemoteChunkFilterer(HttpClient http, string algorithm, IReadOnlyDictionary<string, double> parameters, ILogger? logger = null, TimeProvider? time = null) : IChunkFilterer
{
    /// <summary>How long a limit learned from a 413 holds before the full request size is tried again (a service's limit may have been raised).</summary>
    public static readonly TimeSpan LearnedLimitsHold = TimeSpan.FromMinutes(10);

    public const int MaxSamplesPerRequest = 131_072;

    /// <summary>
    /// Largest request body sent, samples and states together: half the services' 16 MiB. The states count: an rls(64)
    /// state is ~34 KB, so a few hundred such streams fill a request before their samples do.
    /// </summary>
    public const int MaxRequestBytes = 8 * 1024 * 1024;

    /// <summary>
    /// Most items (streams) a request carries: the services' <c>FilterService:MaxBatchItems</c> default. More would be
    /// refused with 413 (a batch of more than 4096 streams, <c>Processor:MaxBatchRecords</c> being up to 1,000,000). A
    /// service set lower still answers 413: see <see cref="SendAsync"/>.
    /// </summary>
    public const int MaxItemsPerRequest = 4096;

    private int _itemsPerRequest = MaxItemsPerRequest;
    private int _samplesPerRequest = MaxSamplesPerRequest;
    private long _loweredAt = long.MaxValue;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Most items a request carries now: <see cref="MaxItemsPerRequest"/>, or less once a service refused a request of more with 413 and took its halves.</summary>
    public int ItemsPerRequest => Volatile.Read(ref _itemsPerRequest);

    /// <summary>Most samples a request carries now: <see cref="MaxSamplesPerRequest"/>, or less once a service refused one stream's samples with 413 and took their halves.</summary>
    public int SamplesPerRequest => Volatile.Read(ref _samplesPerRequest);

    /// <summary>The binary batch's media type, for the request and the answer (<see cref="FilterBatchFormat"/>).</summary>
    public const string BatchMediaType = FilterBatchFormat.MediaType;

    private static readonly MediaTypeHeaderValue BatchContentType = new(BatchMediaType);
    private static readonly MediaTypeWithQualityHeaderValue BatchAccept = new(BatchMediaType);

    // The binary form takes the parameters of state-less items in the query string; "R" round-trips every double.
    private readonly string _path = $"/{algorithm}/audio/batch" + (parameters.Count == 0 ? "" : "?" + string.Join("&",
        parameters.Select(p => Uri.EscapeDataString(p.Key) + "=" + p.Value.ToString("R", CultureInfo.InvariantCulture))));

    private string PathOf(string streamAlgorithm) => streamAlgorithm == algorithm ? _path : $"/{streamAlgorithm}/audio/batch";

    /// <summary>
    /// A 400, 413 or 422 answer refuses the request's chunks (the service read them and named what is wrong with them);
    /// any other status (404, 401, 403, 415 from a wrong route, an auth proxy or a service of another version; 408, 429,
    /// 5xx), timeouts and malformed answers are transport failures: no chunk is to blame, so the batch is retried and
    /// /health turns unhealthy after Processor:MaxBatchAttempts, instead of every chunk going to the dead-letter topic.
    /// </summary>
    public bool IsChunkFault(Exception failure) => failure is ChunkRefusedException;

    private static bool IsRefusal(System.Net.HttpStatusCode status)
        => status is System.Net.HttpStatusCode.BadRequest or System.Net.HttpStatusCode.RequestEntityTooLarge or System.Net.HttpStatusCode.UnprocessableEntity;

    public async Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken)
    {
        var loweredAt = Volatile.Read(ref _loweredAt);
        if (loweredAt != long.MaxValue && _time.GetElapsedTime(loweredAt) >= LearnedLimitsHold
            && Interlocked.CompareExchange(ref _loweredAt, long.MaxValue, loweredAt) == loweredAt)
        {
            logger?.LogInformation("Trying the full request size again ({Items} streams, {Samples} samples) {Minutes} minutes after a filter service refused a larger request",
                MaxItemsPerRequest, MaxSamplesPerRequest, LearnedLimitsHold.TotalMinutes);
            Volatile.Write(ref _itemsPerRequest, MaxItemsPerRequest);
            Volatile.Write(ref _samplesPerRequest, MaxSamplesPerRequest);
        }

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

        // One request per algorithm present (streams may run their own; most batches have one).
        foreach (var group in streams.GroupBy(s => s.Handle.Algorithm ?? algorithm))
        {
            await FilterAsync([.. group], PathOf(group.Key), cancellationToken);
        }
    }

    private async Task FilterAsync(List<PendingStream> streams, string path, CancellationToken cancellationToken)
    {
        while (streams.Any(s => !s.Done))
        {
            var budget = SamplesPerRequest;
            long bytes = FilterBatchFormat.CountBytes;
            var batch = new List<BatchItem>();
            foreach (var stream in streams.Where(s => !s.Done))
            {
                if (budget == 0 || batch.Count >= ItemsPerRequest)
                {
                    break;
                }

                var state = stream.Handle.StateToSend();
                var stateBytes = state?.Length ?? 0;
                if (batch.Count > 0 && bytes + FilterBatchFormat.ItemBytes(budget, stateBytes) > MaxRequestBytes)
                {
                    break; // the rest go in the next request
                }

                var segments = stream.Take(budget);
                var length = segments.Sum(s => s.Length);
                budget -= length;
                bytes += FilterBatchFormat.ItemBytes(length, stateBytes);
                batch.Add(new BatchItem(stream.Handle, segments, length, state));
            }

            await SendAsync(batch, path, cancellationToken);
        }
    }

    /// <summary>
    /// Sends <paramref name="batch"/>; only a whole, well-formed answer moves its streams on. A service set to take less
    /// than the processor sends (<c>FilterService:MaxBatchItems</c>, <c>MaxSamplesPerRequest</c>,
    /// <c>MaxStateBytesPerRequest</c>, <c>MaxRequestBodyBytes</c>) answers 413: the request is sent again in two halves
    /// (its streams, or a single stream's samples, that stream's second half continuing from the state the first
    /// returned), halved again while refused. When every part passes at once, the refusal was the request's size, and the
    /// half is kept as <see cref="ItemsPerRequest"/> or <see cref="SamplesPerRequest"/> (for <see cref="LearnedLimitsHold"/>
    /// after the last lowering, then the full size is tried again); a refusal that follows one stream
    /// down to one sample is that stream's (its chunks are refused: <see cref="Streaming.BatchFilter"/>'s isolation sends
    /// each on its own) and lowers nothing. True when one request took the whole batch.
    /// </summary>
    private async Task<bool> SendAsync(List<BatchItem> batch, string path, CancellationToken cancellationToken)
    {
        byte[][] states;
        try
        {
            states = await SendRequestAsync(batch, path, cancellationToken);
        }
        catch (ChunkRefusedException e) when (e.StatusCode == System.Net.HttpStatusCode.RequestEntityTooLarge && (batch.Count > 1 || batch[0].Length > 1))
        {
            var atOnce = true;
            if (batch.Count > 1)
            {
                var half = (batch.Count + 1) / 2;
                for (var sent = 0; sent < batch.Count;)
                {
                    var count = EvenPart(batch.Count - sent, Math.Min(ItemsPerRequest, half));
                    atOnce &= await SendAsync(batch.GetRange(sent, count), path, cancellationToken);
                    sent += count;
                }

                if (atOnce)
                {
                    Lower(ref _itemsPerRequest, half, $"{batch.Count} streams", "streams", e.Message);
                }
            }
            else
            {
                var item = batch[0];
                var half = (item.Length + 1) / 2;
                for (var sent = 0; sent < item.Length;)
                {
                    var count = EvenPart(item.Length - sent, Math.Min(SamplesPerRequest, half));
                    var state = sent == 0 ? item.State : item.Stream.StateToSend();
                    atOnce &= await SendAsync([new BatchItem(item.Stream, Slice(item.Segments, sent, count), count, state)], path, cancellationToken);
                    sent += count;
                }

                if (atOnce)
                {
                    Lower(ref _samplesPerRequest, half, $"{item.Length} samples of one stream", "samples", e.Message);
                }
            }

            return false;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Stream.SetSnapshot(states[i]);
        }

        return true;
    }

    /// <summary>The next of the even parts of at most <paramref name="limit"/> that <paramref name="left"/> is cut into (125 at 63: 63, then 62; not 63, 61 and 1).</summary>
    private static int EvenPart(int left, int limit)
    {
        var parts = (left + limit - 1) / limit;
        return (left + parts - 1) / parts;
    }

    /// <summary>Samples <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> of an item's segments.</summary>
    private static List<(FilterWork Item, int Offset, int Length)> Slice(List<(FilterWork Item, int Offset, int Length)> segments, int start, int count)
    {
        var slice = new List<(FilterWork, int, int)>();
        foreach (var (work, offset, length) in segments)
        {
            if (count == 0)
            {
                break;
            }

            if (start >= length)
            {
                start -= length;
                continue;
            }

            var taken = Math.Min(count, length - start);
            slice.Add((work, offset + start, taken));
            count -= taken;
            start = 0;
        }

        return slice;
    }

    private void Lower(ref int limit, int value, string refused, string unit, string refusal)
    {
        int current;
        do
        {
            current = Volatile.Read(ref limit);
            if (value >= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref limit, value, current) != current);

        Volatile.Write(ref _loweredAt, _time.GetTimestamp());

        logger?.LogWarning("The filter service refused a request of {Refused} as too large ({Refusal}) and took its halves; a request carries at most {Limit} {Unit} for the next {Minutes} minutes. Check the services' FilterService:MaxBatchItems, MaxSamplesPerRequest, MaxStateBytesPerRequest and MaxRequestBodyBytes (docs/filter-api.md, Limits)",
            refused, refusal, value, unit, LearnedLimitsHold.TotalMinutes);
    }

    /// <summary>Sends one request; writes the filtered samples into the items' outputs and returns their new states.</summary>
    private async Task<byte[][]> SendRequestAsync(List<BatchItem> batch, string path, CancellationToken cancellationToken)
    {
        var size = FilterBatchFormat.CountBytes;
        foreach (var item in batch)
        {
            size += (int)FilterBatchFormat.ItemBytes(item.Length, item.State?.Length ?? 0);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            WriteRequest(batch, buffer.AsSpan(0, size));
            using var content = new ByteArrayContent(buffer, 0, size);
            content.Headers.ContentType = BatchContentType;
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
            request.Headers.Accept.Add(BatchAccept);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var problem = await ReadProblemAsync(response.Content, cancellationToken);
                var message = $"Filter service answered {(int)response.StatusCode} for a batch to {path}: {problem}";
                throw IsRefusal(response.StatusCode)
                    ? new ChunkRefusedException(message, response.StatusCode)
                    : new HttpRequestException(message, null, response.StatusCode);
            }

            if (!string.Equals(response.Content.Headers.ContentType?.MediaType, BatchMediaType, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException(
                    $"Filter service answered a batch to {path} with content type '{response.Content.Headers.ContentType}', not {BatchMediaType}.");
            }

            // The answer holds the request's samples, filtered, and a state per item: anything much larger is no answer
            // to this request, and is not read into memory whole.
            var (body, length) = await ReadBodyAsync(response.Content, size + (batch.Count + 1) * (long)MaxAnswerStateBytes, batch.Count, cancellationToken);
            try
            {
                return ReadResponse(batch, body.AsSpan(0, length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(body);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void WriteRequest(List<BatchItem> batch, Span<byte> body)
    {
        FilterBatchFormat.WriteCount(body, batch.Count);
        var position = FilterBatchFormat.CountBytes;
        foreach (var item in batch)
        {
            var state = item.State ?? [];
            FilterBatchFormat.WriteItemHeader(body[position..], item.Length, state.Length);
            position += FilterBatchFormat.ItemHeaderBytes;
            state.CopyTo(body[position..]);
            position += state.Length;
            foreach (var (work, offset, length) in item.Segments)
            {
                FilterBatchFormat.WriteSamples(work.Input.Span.Slice(offset, length), body.Slice(position, length * sizeof(double)));
                position += length * sizeof(double);
            }
        }
    }

    /// <summary>Checks the answer against the request and copies each result's samples into its segments' outputs.</summary>
    private byte[][] ReadResponse(List<BatchItem> batch, ReadOnlySpan<byte> body)
    {
        if (body.Length < FilterBatchFormat.CountBytes)
        {
            throw Malformed($"the body is {body.Length} bytes, too short for the item count");
        }

        var count = FilterBatchFormat.ReadCount(body);
        if (count != (uint)batch.Count)
        {
            throw Malformed($"it has {count} results for {batch.Count} items");
        }

        var states = new byte[batch.Count][];
        var position = FilterBatchFormat.CountBytes;
        for (var i = 0; i < batch.Count; i++)
        {
            var item = batch[i];
            if (body.Length - position < FilterBatchFormat.ItemHeaderBytes)
            {
                throw Malformed($"results[{i}]: the body ends inside the result's header");
            }

            var (length, stateLength) = FilterBatchFormat.ReadItemHeader(body[position..]);
            position += FilterBatchFormat.ItemHeaderBytes;
            if (length != (uint)item.Length)
            {
                throw Malformed($"results[{i}] has {length} samples for {item.Length}");
            }

            if (stateLength == 0)
            {
                throw Malformed($"results[{i}] has no state");
            }

            if ((ulong)stateLength + (ulong)length * sizeof(double) > (ulong)(body.Length - position))
            {
                throw Malformed($"results[{i}]: its {stateLength} state bytes and {length} samples run past the end of the body");
            }

            states[i] = body.Slice(position, (int)stateLength).ToArray();
            position += (int)stateLength;
            foreach (var (work, offset, segmentLength) in item.Segments)
            {
                FilterBatchFormat.ReadSamples(body.Slice(position, segmentLength * sizeof(double)), work.Output.Span.Slice(offset, segmentLength));
                position += segmentLength * sizeof(double);
            }
        }

        if (position != body.Length)
        {
            throw Malformed($"{body.Length - position} bytes follow the last result");
        }

        return states;
    }

    private InvalidOperationException Malformed(string what)
        => new($"Filter service's binary answer to a {algorithm} batch is malformed: {what}.");

    /// <summary>The room an answer's item may take for its state beyond the request's: rls of order 64, the largest, takes 33,836 bytes.</summary>
    private const int MaxAnswerStateBytes = 64 * 1024;

    /// <summary>The most of a refusal's text read into its message (and so into logs and the health reason).</summary>
    private const int MaxProblemBytes = 4096;

    /// <summary>A refusal's problem text, its first <see cref="MaxProblemBytes"/> bytes at most.</summary>
    private static async Task<string> ReadProblemAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxProblemBytes + 1];
        var length = 0;
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        for (int read; length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0;)
        {
            length += read;
        }

        return length > MaxProblemBytes
            ? System.Text.Encoding.UTF8.GetString(buffer, 0, MaxProblemBytes) + $"... (cut at {MaxProblemBytes} bytes)"
            : System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }

    /// <summary>The whole response body in a pooled array (return it to <see cref="ArrayPool{T}.Shared"/>), at most <paramref name="maxBytes"/>.</summary>
    private async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpContent content, long maxBytes, int items, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > maxBytes)
        {
            throw Malformed($"the answer declares {content.Headers.ContentLength} bytes, more than {maxBytes} (the {items} item(s)' samples and states)");
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(content.Headers.ContentLength ?? 0, 4096, Array.MaxLength - 1) + 1);
        var length = 0;
        try
        {
            await using var stream = await content.ReadAsStreamAsync(cancellationToken);
            while (true)
            {
                if (length > maxBytes)
                {
                    throw Malformed($"the answer runs past {maxBytes} bytes (the {items} item(s)' samples and states)");
                }

                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    return (buffer, length);
                }

                length += read;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>One stream's part of a request: its segments of chunks, their total length and the state it starts from.</summary>
    private readonly record struct BatchItem(StreamFilterHandle Stream, List<(FilterWork Item, int Offset, int Length)> Segments, int Length, byte[]? State);

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
}

/// <summary>The algorithm service refused a request's chunks (a 400, 413 or 422 answer).</summary>
public sealed class ChunkRefusedException(string message, System.Net.HttpStatusCode status) : HttpRequestException(message, null, status);
