namespace WebSocketBridge.Streams;

/// <summary>
/// Min/max decimation: the samples are cut into equal buckets and each bucket keeps its minimum and maximum, in the
/// order they occurred. A line drawn through the result touches every peak and trough of the input, which is what the
/// eye needs from a signal squeezed into a few pixels per bucket (averaging or picking every n-th sample would hide
/// spikes).
/// </summary>
public static class MinMaxDecimator
{
    /// <summary>How many points <see cref="Decimate"/> writes for <paramref name="count"/> samples and a bound of
    /// <paramref name="maxPoints"/> (at least 2): the samples themselves when they fit, else two per bucket.</summary>
    public static int OutputLength(int count, int maxPoints)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPoints, 2);
        return count <= maxPoints ? count : maxPoints / 2 * 2;
    }

    /// <summary>Bucket <paramref name="bucket"/> of <paramref name="buckets"/> over <paramref name="count"/> samples
    /// covers [start, end).</summary>
    public static (int Start, int End) BucketBounds(int count, int buckets, int bucket)
        => ((int)((long)bucket * count / buckets), (int)((long)(bucket + 1) * count / buckets));

    /// <summary>
    /// Writes the decimated <paramref name="values"/> into <paramref name="output"/> (length
    /// <see cref="OutputLength"/>) and, if given, each point's sample position into <paramref name="positions"/>.
    /// Positions are shared by every series decimated with the same count and bound, so a chart can draw raw and
    /// filtered on one x axis: a bucket's first point sits at the bucket's start, its second at its middle.
    /// </summary>
    public static int Decimate(ReadOnlySpan<double> values, int maxPoints, Span<double> output, Span<long> positions = default, long firstPosition = 0)
    {
        var length = OutputLength(values.Length, maxPoints);
        if (output.Length < length || (!positions.IsEmpty && positions.Length < length))
        {
            throw new ArgumentException($"The output needs room for {length} points.", nameof(output));
        }

        if (length == values.Length)
        {
            values.CopyTo(output);
            for (var i = 0; i < positions.Length && i < length; i++)
            {
                positions[i] = firstPosition + i;
            }

            return length;
        }

        var buckets = length / 2;
        for (var b = 0; b < buckets; b++)
        {
            var (start, end) = BucketBounds(values.Length, buckets, b);
            var bucket = values[start..end];
            int min = 0, max = 0;
            for (var i = 1; i < bucket.Length; i++)
            {
                var v = bucket[i];
                if (v < bucket[min])
                {
                    min = i;
                }
                else if (v > bucket[max])
                {
                    max = i;
                }
            }

            output[2 * b] = bucket[Math.Min(min, max)];
            output[2 * b + 1] = bucket[Math.Max(min, max)];
            if (!positions.IsEmpty)
            {
                positions[2 * b] = firstPosition + start;
                positions[2 * b + 1] = firstPosition + start + (end - start) / 2;
            }
        }

        return length;
    }
}
