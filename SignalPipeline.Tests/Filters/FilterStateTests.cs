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
        var state = StateBytes.Forge(FilterFactory.Create(algorithm).SaveState(), corrupt);
        return Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state, algorithm)).Message;
    }

    private static void WriteDouble(byte[] state, int offset, double value) => StateBytes.WriteDouble(state, offset, value);

    // docs/filters.md, "Restore checks, each with its own message": each forged state has a matching CRC, so the check
    // named is the one that refuses it, and the message is the whole of it.

    [Fact]
    public void A_negative_sample_count_is_refused_naming_it()
    {
        var state = StateBytes.Forge(FilterFactory.Create("kalman").SaveState(), s => BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(8), -1));
        var e = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state));
        Assert.Equal("Filter state has a negative sample count (-1).", e.Message);
    }

    [Fact]
    public void A_negative_kalman_error_variance_is_refused()
    {
        // kalman's state after its 4 parameters: x, previous x, p.
        var state = StateBytes.Forge(FilterFactory.Create("kalman").SaveState(), s => WriteDouble(s, StateBytes.Value(6), -0.5));
        var e = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state, "kalman"));
        Assert.Equal("Filter state holds a negative error variance p (-0.5).", e.Message);

        // p = 0 is a valid p (p0 = 0 is in range): the check is p < 0, not p <= 0.
        Assert.Equal(0, ((KalmanFilter)FilterFactory.Restore(StateBytes.Forge(state, s => WriteDouble(s, StateBytes.Value(6), 0)))).ErrorVariance);
    }

    [Theory]
    [InlineData("rls", "order", 3, 3)]
    [InlineData("lms", "order", 3, 5)]
    [InlineData("ls", "window", 6, 5)]
    public void A_non_zero_tap_older_than_the_first_sample_is_refused(string algorithm, string sizeName, int size, int taps)
    {
        // The taps are the state's last values, newest first: z(n-1) ... z(n-taps). After 2 samples z(n-3) is before the first.
        var filter = FilterFactory.Create(algorithm, new Dictionary<string, double> { [sizeName] = size });
        filter.Process([1.5, 2.5], new double[2]);
        var state = filter.SaveState();
        var newest = state.Length - 4 - 8 * taps;
        Assert.Equal((2.5, 1.5, 0.0), (StateBytes.ReadDouble(state, newest), StateBytes.ReadDouble(state, newest + 8), StateBytes.ReadDouble(state, newest + 16)));

        var forged = StateBytes.Forge(state, s => WriteDouble(s, newest + 16, 7));
        var e = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(forged, algorithm));
        Assert.Equal("Filter state holds a non-zero tap z(n-3) although only 2 samples were processed.", e.Message);

        // The same value is a real sample once the stream has seen three.
        var threeSamples = StateBytes.Forge(forged, s => BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(8), 3));
        Assert.Equal(3, FilterFactory.Restore(threeSamples, algorithm).SamplesProcessed);
    }

    [Fact]
    public void A_wrong_parameter_count_is_refused_naming_both_counts()
    {
        var state = StateBytes.Forge(FilterFactory.Create("kalman").SaveState(), s => s[7] = 3);
        var e = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state));
        Assert.Equal("Filter state for 'kalman' declares 3 parameters; version 1 has 4.", e.Message);
    }

    [Theory]
    [InlineData(8, 32)]
    [InlineData(3, 27)]
    public void Trailing_bytes_are_refused_by_the_length_the_parameters_imply(int extra, int stateBytes)
    {
        // The whole state is checked against the length its parameters imply before a value is read, so bytes after
        // kalman's three values are refused by that check (FilterFactory.CheckLength).
        var state = StateBytes.WithCrc([.. FilterFactory.Create("kalman").SaveState().AsSpan(0, 76 - 4), .. new byte[extra], 0, 0, 0, 0]);
        var e = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state, "kalman"));
        Assert.Equal($"Filter state for 'kalman' has {stateBytes} bytes of state; its parameters require 24.", e.Message);
    }

    [Fact]
    public void The_reader_refuses_bytes_left_after_the_last_value()
    {
        // The guard FilterFactory.Restore runs after an algorithm's restore, for an algorithm that would read less than its
        // state (the four current ones check the length first, above).
        var state = StateBytes.WithCrc(new byte[16 + 8 + 8 + 4]);
        var e = Assert.Throws<InvalidFilterStateException>(() =>
        {
            var reader = new StateReader(state);
            reader.Read("x");
            reader.EnsureEnd();
        });
        Assert.Equal("Filter state has 8 unexpected trailing bytes.", e.Message);
    }

    [Theory]
    [InlineData("kalman", 0, -1.0, "Parameter 'q' must be a finite number > 0; got -1.")]
    [InlineData("rls", 1, 1.5, "Parameter 'lambda' must be in (0, 1]; got 1.5.")]
    [InlineData("ls", 1, 11.0, "Parameter 'degree' must be an integer in [0, 10]; got 11.")]
    [InlineData("ls", 1, 4.0, "Parameter 'degree' must be an integer in [0, min(10, window - 1)] = [0, 3] for window 4; got 4.")]
    public void A_state_with_parameters_out_of_range_says_so_with_the_parameters_message(string algorithm, int index, double value, string parameterMessage)
    {
        var parameters = algorithm == "ls" ? new Dictionary<string, double> { ["window"] = 4, ["degree"] = 1 } : null;
        var state = StateBytes.Forge(FilterFactory.Create(algorithm, parameters).SaveState(), s => WriteDouble(s, StateBytes.Value(index), value));
        var e = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore(state, algorithm));
        Assert.Equal("Filter state holds invalid parameters: " + parameterMessage, e.Message);
    }

    // docs/filters.md, "State values": the order of the float64s after the parameters, decoded at the documented
    // offsets after a short input whose state is worked out by hand here, and FilterInspector.Inspect of the same bytes.

    [Fact]
    public void Kalman_state_holds_x_then_the_previous_x_then_p()
    {
        const double q = 1, r = 1, x0 = 0.25, p0 = 1;
        double[] z = [1, 2, 3];
        double x = x0, previous = x0, p = p0;
        foreach (var sample in z)
        {
            // The transient recursion (p has not reached its fixed point within three samples here).
            var pq = p + q;
            var k = pq / (pq + r);
            var next = (1 - k) * pq;
            Assert.NotEqual(p, next);
            previous = x;
            x = Math.FusedMultiplyAdd(k, sample - x, x);
            p = next;
        }

        var filter = FilterFactory.Create("kalman", new Dictionary<string, double> { ["q"] = q, ["r"] = r, ["x0"] = x0, ["p0"] = p0 });
        filter.Process(z, new double[3]);
        var state = filter.SaveState();
        Assert.Equal([q, r, x0, p0], Values(state, 0, 4));
        Assert.Equal([x, previous, p], Values(state, 4, 3));
        Assert.Equal(76, state.Length);

        var view = FilterInspector.Inspect(state);
        Assert.Equal(("kalman", 3L), (view.Algorithm, view.SamplesProcessed));
        Assert.Equal(new Dictionary<string, double> { ["estimate"] = x, ["errorVariance"] = p, ["gain"] = (p + q) / (p + q + r) }, view.Values);
        Assert.Empty(view.Vectors);
    }

    [Fact]
    public void Rls_state_holds_the_weights_newest_tap_first_then_P_row_by_row_then_the_taps()
    {
        // Order 2, lambda 1, delta 1 over [1, 2, 3], by hand (every value a short binary fraction, so exact):
        // n = 0: u = 0, nothing learned. n = 1: u = [1, 0], e = 2, pi = [1, 0], g = [1/2, 0], w = [1, 0], P = [[1/2, 0], [0, 1]].
        // n = 2: u = [2, 1], y = 2, e = 1, pi = [1, 1], lambda + u.pi = 4, g = [1/4, 1/4], w = [5/4, 1/4],
        //        P = [[1/4, -1/4], [-1/4, 3/4]]. Taps z(n-1), z(n-2) = 3, 2.
        var filter = FilterFactory.Create("rls", new Dictionary<string, double> { ["order"] = 2, ["lambda"] = 1, ["delta"] = 1 });
        var y = new double[3];
        filter.Process([1, 2, 3], y);
        Assert.Equal([0, 0, 2], y);
        var state = filter.SaveState();
        Assert.Equal(16 + 8 * (3 + 2 + 4 + 2) + 4, state.Length);
        Assert.Equal([1.25, 0.25], Values(state, 3, 2));
        Assert.Equal([0.25, -0.25, -0.25, 0.75], Values(state, 5, 4));
        Assert.Equal([3, 2], Values(state, 9, 2));

        var view = FilterInspector.Inspect(state);
        Assert.Equal([1.25, 0.25], view.Vectors["weights"]);
        Assert.Empty(view.Values);

        // weights[0] multiplies z(n-1): the next output is 1.25 * 3 + 0.25 * 2.
        filter.Process([0], y.AsSpan(0, 1));
        Assert.Equal(4.25, y[0]);
    }

    [Fact]
    public void Lms_state_holds_the_weights_two_samples_late_then_c_n_minus_2_then_c_n_minus_1_then_order_plus_2_taps()
    {
        // Order 2, mu 1.5, eps 1 over [1, 2, 1, 2], by hand with c(n) = mu e(n) / (eps + u(n).u(n)) (all exact):
        // n = 0: u = 0, y = 0, c0 = 1.5. n = 1: u = [1, 0], y = 0, e = 2, c1 = 1.5 * 2 / 2 = 1.5; w(2) = c0 u(0) + c1 u(1) = [1.5, 0].
        // n = 2: u = [2, 1], y = 3, e = -2, c2 = 1.5 * -2 / 6 = -0.5. n = 3: w(3) = w(2) + c2 u(2) = [0.5, -0.5], u = [1, 2],
        //        y = -0.5, e = 2.5, c3 = 1.5 * 2.5 / 6 = 0.625.
        // After 4 samples: w(n-2) = w(2) = [1.5, 0], c(n-2) = c2, c(n-1) = c3, taps z(n-1) .. z(n-4) = 2, 1, 2, 1;
        // the weights the next sample gets are w(4) = w(2) + c2 u(2) + c3 u(3) = [1.125, 0.75].
        var filter = FilterFactory.Create("lms", new Dictionary<string, double> { ["order"] = 2, ["mu"] = 1.5, ["eps"] = 1 });
        var y = new double[4];
        filter.Process([1, 2, 1, 2], y);
        Assert.Equal([0, 0, 3, -0.5], y);
        var state = filter.SaveState();
        Assert.Equal(16 + 8 * (3 + 2 + 2 + 4) + 4, state.Length);
        Assert.Equal([1.5, 0], Values(state, 3, 2));
        Assert.Equal([-0.5, 0.625], Values(state, 5, 2));
        Assert.Equal([2, 1, 2, 1], Values(state, 7, 4));

        Assert.Equal([1.125, 0.75], FilterInspector.Inspect(state).Vectors["weights"]);

        // y(4) = w(4).u(4) with u(4) = [2, 1].
        filter.Process([0], y.AsSpan(0, 1));
        Assert.Equal(3, y[0]);
    }

    [Fact]
    public void Ls_state_holds_the_taps_newest_first()
    {
        var filter = FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 5, ["degree"] = 1 });
        filter.Process([1, 2, 4], new double[3]);
        var state = filter.SaveState();
        Assert.Equal(16 + 8 * (2 + 4) + 4, state.Length);
        Assert.Equal([4, 2, 1, 0], Values(state, 2, 4));
        Assert.Equal(new Dictionary<string, double> { ["windowFill"] = 3, ["window"] = 5 }, FilterInspector.Inspect(state).Values);
    }

    private static double[] Values(byte[] state, int first, int count)
        => [.. Enumerable.Range(first, count).Select(i => StateBytes.ReadDouble(state, StateBytes.Value(i)))];
}
