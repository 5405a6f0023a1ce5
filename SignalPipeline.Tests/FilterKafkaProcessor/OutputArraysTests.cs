using FilterKafkaProcessor.Streaming;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The arrays the batches filter into, given back after each commit and used again (issue 14, docs/processor.md "Limits").</summary>
public sealed class OutputArraysTests
{
    [Fact]
    public void A_batch_of_thousands_of_chunks_gets_its_arrays_back_in_the_next_batch_not_new_ones()
    {
        var arrays = new OutputArrays();
        var first = Enumerable.Range(0, 2000).Select(_ => arrays.Rent(64)).ToList();
        foreach (var array in first)
        {
            arrays.Return(array);
        }

        Assert.Equal(2000 * 64 * sizeof(double), arrays.RetainedBytes);
        var second = Enumerable.Range(0, 2000).Select(_ => arrays.Rent(64)).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.All(first, array => Assert.Contains(array, second));
        Assert.Equal(0, arrays.RetainedBytes);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(64, 64)]
    [InlineData(65, 128)]
    [InlineData(4000, 4096)]
    public void An_array_has_the_next_power_of_two_elements_and_serves_every_length_of_its_size(int length, int expected)
    {
        var arrays = new OutputArrays();
        var array = arrays.Rent(length);
        Assert.Equal(expected, array.Length);

        arrays.Return(array);
        Assert.Same(array, arrays.Rent(expected / 2 + 1));
    }

    [Fact]
    public void Past_MaxRetainedBytes_a_returned_array_is_left_to_the_GC_and_one_of_a_size_it_does_not_make_is_refused()
    {
        var arrays = new OutputArrays();
        const int Length = 65536; // 512 KiB an array: 16 fill the bound
        var rented = Enumerable.Range(0, 20).Select(_ => arrays.Rent(Length)).ToList();
        foreach (var array in rented)
        {
            arrays.Return(array);
        }

        Assert.Equal(OutputArrays.MaxRetainedBytes, arrays.RetainedBytes);
        arrays.Return(new double[100]);
        Assert.Equal(OutputArrays.MaxRetainedBytes, arrays.RetainedBytes);

        var again = Enumerable.Range(0, 20).Select(_ => arrays.Rent(Length)).ToList();
        Assert.Equal(16, again.Count(array => rented.Contains(array)));
    }
}
