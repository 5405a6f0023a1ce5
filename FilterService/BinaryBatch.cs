using System.IO.Pipelines;
using SignalPipeline.Filters;

namespace FilterService;

/// <summary>
/// The service's side of the binary <c>POST /{algorithm}/audio/batch</c>: the format itself (layout, media type, sample
/// copying) is <see cref="FilterBatchFormat"/>, shared with the processor that sends these requests; this class adds the
/// checks a request from anyone needs, with messages naming the byte that is wrong. The state bytes are the ones the JSON
/// form carries in base64, so both forms run the same filter code and give bit-identical results.
/// </summary>
public static class BinaryBatch
{
    public const string MediaType = FilterBatchFormat.MediaType;

    /// <summary>Bytes of an item's header (sample count and state length).</summary>
    public const int ItemHeaderBytes = FilterBatchFormat.ItemHeaderBytes;

    // The smallest possible item: its header and one sample.
    private const int MinItemBytes = ItemHeaderBytes + sizeof(double);

    /// <summary>
    /// Reads a request body into <paramref name="samples"/>; <paramref name="parameters"/> (from the query string) are
    /// those of the items without state. Every count is checked against the bytes actually there before it is used.
    /// </summary>
    public static FilterRequest ParseRequest(ReadOnlySpan<byte> body, Dictionary<string, double>? parameters, SampleList samples,
        int maxItems = int.MaxValue)
    {
        if (body.Length < FilterBatchFormat.CountBytes)
        {
            throw FilterRequestException.BadRequest(
                $"A {MediaType} body starts with a little-endian u32 item count; got {body.Length} bytes.");
        }

        var count = FilterBatchFormat.ReadCount(body);
        if (count == 0)
        {
            throw FilterRequestException.BadRequest("The item count is 0: a batch needs at least one item.");
        }

        // A count the body cannot hold is a malformed body (400), whatever its size: a 413 for it would blame the limit.
        if (count > (uint)((body.Length - FilterBatchFormat.CountBytes) / MinItemBytes))
        {
            throw FilterRequestException.BadRequest(
                $"The item count {count} cannot fit in a {body.Length}-byte body (each item takes at least {MinItemBytes} bytes).");
        }

        if (count > (uint)maxItems)
        {
            throw FilterRequest.TooManyItems(maxItems);
        }

        var request = new FilterRequest();
        request.SetParameters(parameters);
        var position = FilterBatchFormat.CountBytes;
        for (var i = 0; i < (int)count; i++)
        {
            var path = $"items[{i}]";
            var left = body.Length - position;
            if (left < ItemHeaderBytes)
            {
                throw FilterRequestException.BadRequest(
                    $"{path}: the body ends inside the item's header (byte {position} of {body.Length}; a header takes {ItemHeaderBytes} bytes).");
            }

            var (length, stateLength) = FilterBatchFormat.ReadItemHeader(body[position..]);
            position += ItemHeaderBytes;
            left -= ItemHeaderBytes;
            if (length == 0)
            {
                throw FilterRequestException.BadRequest($"{path}: the sample count is 0: send at least one sample.");
            }

            if (stateLength > (uint)left)
            {
                throw FilterRequestException.BadRequest(
                    $"{path}: the state length {stateLength} runs past the end of the body ({left} bytes left).");
            }

            byte[]? state = stateLength == 0 ? null : body.Slice(position, (int)stateLength).ToArray();
            position += (int)stateLength;
            left -= (int)stateLength;
            if ((ulong)length * sizeof(double) > (ulong)left)
            {
                throw FilterRequestException.BadRequest(
                    $"{path}: {length} samples need {(ulong)length * sizeof(double)} bytes, but only {left} are left in the body.");
            }

            var offset = samples.Count;
            var signal = samples.Append((int)length);
            ReadSamples(body.Slice(position, signal.Length * sizeof(double)), signal);
            position += signal.Length * sizeof(double);
            var bad = IndexOfNonFinite(signal);
            if (bad >= 0)
            {
                throw FilterRequestException.BadRequest($"{path}.signal[{bad}] is not a finite number (NaN or infinity).");
            }

            request.Items.Add(new FilterRequestItem(offset, signal.Length, state));
        }

        if (position != body.Length)
        {
            throw FilterRequestException.BadRequest(
                $"{body.Length - position} trailing bytes after the last item (items[{count - 1}]): the body must end there.");
        }

        return request;
    }

    /// <summary>The response body's length: the item count, then per result its header, state and samples.</summary>
    public static long ResponseLength(IReadOnlyList<FilterResult> results)
    {
        long length = FilterBatchFormat.CountBytes;
        foreach (var result in results)
        {
            length += FilterBatchFormat.ItemBytes(result.Length, result.State.Length);
        }

        return length;
    }

    /// <summary>Writes <c>u32 count</c> into <paramref name="writer"/>.</summary>
    public static void WriteCount(PipeWriter writer, int count)
    {
        FilterBatchFormat.WriteCount(writer.GetSpan(FilterBatchFormat.CountBytes), count);
        writer.Advance(FilterBatchFormat.CountBytes);
    }

    /// <summary>Writes an item's header and state; its samples follow (<see cref="WriteSamples"/>).</summary>
    public static void WriteItemHead(PipeWriter writer, int length, ReadOnlySpan<byte> state)
    {
        var span = writer.GetSpan(ItemHeaderBytes + state.Length);
        FilterBatchFormat.WriteItemHeader(span, length, state.Length);
        state.CopyTo(span[ItemHeaderBytes..]);
        writer.Advance(ItemHeaderBytes + state.Length);
    }

    /// <summary>Writes samples as little-endian float64.</summary>
    public static void WriteSamples(PipeWriter writer, ReadOnlySpan<double> values)
    {
        var bytes = values.Length * sizeof(double);
        FilterBatchFormat.WriteSamples(values, writer.GetSpan(bytes));
        writer.Advance(bytes);
    }

    /// <summary>Reads little-endian float64 samples into <paramref name="destination"/>.</summary>
    public static void ReadSamples(ReadOnlySpan<byte> bytes, Span<double> destination) => FilterBatchFormat.ReadSamples(bytes, destination);

    public static int IndexOfNonFinite(ReadOnlySpan<double> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
