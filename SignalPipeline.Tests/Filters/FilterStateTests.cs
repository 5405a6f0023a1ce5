using System.Buffers.Binary;
using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

public sealed class FilterStateTests
{
    public static TheoryData<string> Algorithms() => new() { "kalman", "rls", "lms", "ls" };

    [Theory]
    [InlineData("kalman", 1, 4)]
    [InlineData("rls", 2, 3)]
    [InlineData("lms", 3, 3)]
    [InlineData("ls", 4, 2)]
    public void State_starts_with_magic_version_and_algorithm(string algorithm, byte id, byte parameters)
    {
        // docs/filters.md, the header's table: algorithm ids 1 kalman, 2 rls, 3 lms, 4 ls; parameter counts 4, 3, 3, 2.
        var filter = FilterFactory.Create(algorithm);
        filter.Process([1, 2, 3], new double[3]);
        var state = filter.SaveState();
        Assert.Equal("SPFS"u8.ToArray(), state[..4]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(state.AsSpan(4)));
        Assert.Equal(id, state[6]);
        Assert.Equal(parameters, state[7]);
        Assert.Equal(3, BinaryPrimitives.ReadInt64LittleEndian(state.AsSpan(8)));
    }

    [Theory]
    [InlineData("kalman", 76)]
    [InlineData("rls", 684)]
    [InlineData("lms", 332)]
    [InlineData("ls", 276)]
    public void State_size_with_default_parameters_is_as_documented(string algorithm, int bytes)
    {
        // docs/filters.md: 16-byte header, parameters and state as float64, 4-byte CRC.
        Assert.Equal(bytes, FilterFactory.Create(algorithm).SaveState().Length);
    }

    /// <summary>
    /// <see cref="IStreamFilter.StateIsFinite"/>, read from the filter's fields, says what the snapshot holds, for every
    /// algorithm over signals that drive it past the range of a double and back (the processor checks it after each chunk
    /// instead of taking a snapshot).
    /// </summary>
    [Theory]
    [MemberData(nameof(Algorithms))]
    public void StateIsFinite_says_whether_the_snapshot_holds_only_finite_values(string algorithm)
    {
        double[][] signals =
        [
            [0.5, -0.25, 1], [1e306], [1e306, -1e306, 1e306, 3], [1.7e308, -1.7e308, 1.7e308], [1e200, 1e200, -1e200, 2, 1],
            [double.NaN, 1, 2], [double.PositiveInfinity], [1, double.NegativeInfinity, 3],
            [1e154, 1e154, 1e154, 1e154, 1e154, 1e154, 1e154, 1e154, 1e154, 1e154],
        ];
        var seen = new HashSet<bool>();
        foreach (var signal in signals)
        {
            var filter = FilterFactory.Create(algorithm);
            var output = new double[1];
            foreach (var sample in signal)
            {
                filter.Process([sample], output);
                var finite = FilterFactory.HoldsOnlyFiniteValues(filter.SaveState());
                Assert.True(finite == filter.StateIsFinite, $"{algorithm} after {sample:R} of [{string.Join(", ", signal)}]: snapshot finite {finite}");
                seen.Add(finite);
            }
        }

        Assert.Contains(true, seen);
        if (algorithm == "lms")
        {
            Assert.Contains(false, seen); // an lms state does go past the range of a double: the check is not vacuous
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void State_of_another_algorithm_is_rejected(string algorithm)
    {
        var state = FilterFactory.Create(algorithm).SaveState();
        foreach (var other in new[] { "kalman", "rls", "lms", "ls" }.Where(a => a != algorithm))
        {
            var e = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state, other));
            Assert.Contains($"'{algorithm}'", e.Message);
            Assert.Contains($"'{other}'", e.Message);
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Truncated_extended_or_flipped_states_are_rejected(string algorithm)
    {
        var filter = FilterFactory.Create(algorithm);
        filter.Process(Signals.Noisy(100, seed: 61), new double[100]);
        var state = filter.SaveState();

        Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state.AsSpan(0, state.Length - 1)));
        Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state.AsSpan(0, 10)));
        Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore([.. state, 0]));
        Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore([]));
        for (var i = 0; i < state.Length; i++)
        {
            var corrupt = (byte[])state.Clone();
            corrupt[i] ^= 0x10;
            Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(corrupt));
        }
    }

    [Fact]
    public void Unknown_version_and_bad_magic_are_named()
    {
        var state = FilterFactory.Create("kalman").SaveState();
        var version = (byte[])state.Clone();
        version[4] = 2;
        Assert.Contains("version 2", Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(version)).Message);
        var magic = (byte[])state.Clone();
        magic[0] = (byte)'X';
        Assert.Contains("magic", Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(magic)).Message);
    }

    [Fact]
    public void Consistent_but_invalid_contents_are_rejected()
    {
        // Valid framing and checksum, but a non-finite estimate, an out-of-range parameter, an asymmetric P.
        Assert.Contains("non-finite", Reject("kalman", state => WriteDouble(state, 16 + 8 * 4, double.NaN)));
        Assert.Contains("lambda", Reject("rls", state => WriteDouble(state, 16 + 8, 1.5)));
        Assert.Contains("symmetric", Reject("rls", state => WriteDouble(state, 16 + 8 * 3 + 8 * 8 + 8, 0.5)));
        Assert.Contains("degree", Reject("ls", state => WriteDouble(state, 16 + 8, 40)));
    }

    private static string Reject(string algorithm, Action<byte[]> corrupt)
    {
        var state = FilterFactory.Create(algorithm).SaveState();
        corrupt(state);
        BinaryPrimitives.WriteUInt32LittleEndian(state.AsSpan(state.Length - 4), System.IO.Hashing.Crc32.HashToUInt32(state.AsSpan(0, state.Length - 4)));
        return Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state, algorithm)).Message;
    }

    private static void WriteDouble(byte[] state, int offset, double value) => BinaryPrimitives.WriteDoubleLittleEndian(state.AsSpan(offset), value);
}
