using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

public sealed class RlsFilterTests
{
    private static readonly VectorWidth[] Widths = [VectorWidth.Vector256, VectorWidth.Vector128, VectorWidth.Scalar];

    [Fact]
    public void Matches_hand_derived_values()
    {
        // order 1, lambda = 1, delta = 1 on 1, 2, 3, 4: P = 1, 1/2, 1/6; w = 0, 1, 4/3; y = w z(n-1).
        var y = Signals.Run("rls", [1, 2, 3, 4], new() { ["order"] = 1, ["lambda"] = 1, ["delta"] = 1 });
        Assert.Equal(new[] { 0, 0, 2, 4.0 }, y.Select(v => Math.Round(v, 12)));
    }

    [Theory]
    [InlineData(8, 0.99, 0.01)]
    [InlineData(1, 0.95, 1)]
    [InlineData(3, 1, 0.1)]
    [InlineData(16, 0.999, 0.01)]
    [InlineData(64, 0.995, 0.01)]
    public void Matches_reference_on_long_noisy_signal(int order, double lambda, double delta)
    {
        var length = order >= 32 ? 20_000 : 100_000;
        var z = Signals.Noisy(length, seed: 31);
        var expected = ReferenceFilters.Rls(z, order, lambda, delta);
        var actual = Signals.Run("rls", z, new() { ["order"] = order, ["lambda"] = lambda, ["delta"] = delta });
        Signals.AssertClose(expected, actual, 1e-9, Signals.Rms(z));
    }

    [Fact]
    public void Stays_stable_at_lambda_0_99_on_a_long_signal()
    {
        var z = Signals.Noisy(200_000, seed: 32);
        var y = Signals.Run("rls", z, new() { ["order"] = 8, ["lambda"] = 0.99 });
        Assert.All(y, v => Assert.True(double.IsFinite(v)));
        var error = Math.Sqrt(Enumerable.Range(100_000, 100_000).Average(n => (z[n] - y[n]) * (z[n] - y[n])));
        Assert.True(error < 1, $"RMS prediction error {error} (noise 0.5): the filter has diverged");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(64)]
    public void A_long_silence_does_not_overflow_P_and_the_filter_adapts_afterwards(int order)
    {
        // 100,000 zeros grow an unbounded P by 0.99^-100000 (about 1e436): it overflows near 70,000 and every later
        // output is NaN. The bound pauses forgetting instead; the signal after the silence is then learned as usual.
        var signal = Signals.Noisy(30_000, seed: 33);
        var z = new double[100_000].Concat(signal).ToArray();
        var y = Signals.Run("rls", z, new() { ["order"] = order, ["lambda"] = 0.99 });
        Assert.All(y, v => Assert.True(double.IsFinite(v)));
        var error = Math.Sqrt(Enumerable.Range(z.Length - 10_000, 10_000).Average(n => (z[n] - y[n]) * (z[n] - y[n])));
        Assert.True(error < 1, $"RMS prediction error {error} (noise 0.5) after the silence: the filter has not adapted");
    }

    [Fact]
    public void Converges_on_a_noiseless_autoregressive_process()
    {
        var z = Enumerable.Range(0, 5_000).Select(n => Math.Sin(0.3 * n) + 0.5 * Math.Sin(1.1 * n + 0.4)).ToArray();
        var y = Signals.Run("rls", z, new() { ["order"] = 4, ["lambda"] = 0.99 });
        var tail = Enumerable.Range(4_000, 1000).Max(n => Math.Abs(z[n] - y[n]));
        Assert.True(tail < 1e-8, $"prediction error over the last 1000 samples {tail:E2}");
    }

    [Theory]
    [InlineData(8, 0.9, 2_000)]
    [InlineData(16, 0.5, 80_000)]
    public void After_a_long_silence_with_strong_forgetting_the_output_stays_finite_and_the_signal_is_learned_again(int order, double lambda, int zeros)
    {
        // docs/filters.md: after the silence P sits at its bound (1e50), where the update's rounding no longer keeps it
        // positive definite; unrestarted, it overflowed within a few thousand samples of this signal (sample 2,866 of it
        // for order 8, 463 for order 16) and every later output was NaN. Order 8 runs the register kernel, 16 the
        // general loop, each at every width.
        const int length = 20_000;
        var z = new double[zeros + length];
        for (var n = 0; n < length; n++)
        {
            z[zeros + n] = Math.Sin(0.1 * n) + 0.5 * Math.Sin(0.37 * n);
        }

        double[]? first = null;
        foreach (var width in Widths)
        {
            var y = Signals.Run(Create(order, lambda, width), z);
            var bad = Array.FindIndex(y, v => !double.IsFinite(v));
            Assert.True(bad < 0, $"{width}: output {y[Math.Max(bad, 0)]} at sample {bad - zeros} of the signal");
            var error = RelativeError(z, y);
            Assert.True(error < 1e-6, $"{width}: mean squared prediction error over the last 1000 samples is {error:E2} of the signal's power");
            if (first is null)
            {
                first = y;
            }
            else
            {
                Signals.AssertBitIdentical(first, y);
            }
        }

        // The restarts are decided by the state alone, so chunks do not move them.
        var chunked = Create(order, lambda, VectorKernels.Best);
        var output = new double[z.Length];
        var random = new Random(order);
        for (var offset = 0; offset < z.Length;)
        {
            var size = Math.Min(random.Next(3000), z.Length - offset);
            chunked.Process(z.AsSpan(offset, size), output.AsSpan(offset, size));
            offset += size;
        }

        Signals.AssertBitIdentical(first!, output);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(5)]
    [InlineData(16)]
    public void A_covariance_that_has_overflowed_restarts_at_I_over_delta_keeping_the_weights(int order)
    {
        // P_11 = double.MaxValue is finite (a restore accepts it), but with z(n-1) = 4 pi = P u overflows at the first
        // sample: unrestarted, w turned NaN in that step. The filter goes on exactly as one whose P is I / delta with the
        // same w and taps.
        var (state, z) = Learned(order, seed: 71);
        var broken = WithState(state, order, (w, p, taps) =>
        {
            p[0] = double.MaxValue;
            taps[0] = 4;
        });
        var restarted = WithState(state, order, (w, p, taps) =>
        {
            Initial(p, order);
            taps[0] = 4;
        });
        foreach (var width in Widths)
        {
            var expected = Continue(restarted, width, z, out var expectedState);
            var actual = Continue(broken, width, z, out var actualState);
            Signals.AssertBitIdentical(expected, actual);
            Assert.Equal(expectedState, actualState);
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(5)]
    [InlineData(16)]
    public void Weights_whose_prediction_overflows_restart_the_filter_keeping_the_taps(int order)
    {
        // w = 1e308 is finite, but w.u overflows at the first sample. The filter restarts (w = 0, P = I / delta) and that
        // sample's prediction is the restarted filter's, 0: it goes on exactly as a fresh filter holding the same taps.
        var (state, z) = Learned(order, seed: 72);
        var broken = WithState(state, order, (w, p, taps) => w.Fill(1e308));
        var restarted = WithState(state, order, (w, p, taps) =>
        {
            w.Clear();
            Initial(p, order);
        });
        foreach (var width in Widths)
        {
            var expected = Continue(restarted, width, z, out var expectedState);
            var actual = Continue(broken, width, z, out var actualState);
            Assert.Equal(0, actual[0]);
            Signals.AssertBitIdentical(expected, actual);
            Assert.Equal(expectedState, actualState);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(8)]
    public void A_state_saved_right_after_an_overflowing_step_restores_and_continues_bit_for_bit(int order)
    {
        // Inputs near 1e154 and up overflow a step: its pi, then w or P, go non-finite and restart at the next sample.
        // Saved right after such a step, the state held those NaNs, which the restore refuses: the filter service
        // answered 200 with a state its next call refused (400), where the whole signal in one call was filtered.
        double[] z = [1e308, -1.7e308, 1.7e308, 0.5, 1e200, 1e200, 1e200, 1, -2, 3, 1e160, 1e160, 1, 0.25, -0.75, 2];
        var sawNonFiniteWeights = false;
        foreach (var width in Widths)
        {
            var whole = Signals.Run(Create(order, 0.99, width), z);
            Assert.All(whole, v => Assert.True(double.IsFinite(v)));
            for (var split = 1; split < z.Length; split++)
            {
                var first = Create(order, 0.99, width);
                var output = new double[z.Length];
                first.Process(z.AsSpan(0, split), output.AsSpan(0, split));
                sawNonFiniteWeights |= first.Inspect().Vectors["weights"].Any(v => !double.IsFinite(v));

                var restored = (RlsFilter)FilterFactory.Restore(first.SaveState(), "rls");
                restored.Width = width;
                restored.Process(z.AsSpan(split), output.AsSpan(split));
                Signals.AssertBitIdentical(whole, output);
            }
        }

        // The signal does take w to NaN at some split, so the test saves such states.
        Assert.True(sawNonFiniteWeights);
    }

    /// <summary>
    /// SHA-256 of the outputs of the code before the restart rule (commit cc7b4d1), on signals it filtered to finite
    /// outputs, among them those where its P had lost positive definiteness without overflowing (pure sinusoids, and a
    /// signal after P sat at its bound): a restart may change only outputs that were not finite. The signals are built
    /// from exact recurrences and seeded uniform noise (no Math.Sin), so they have the same bits on every platform.
    /// </summary>
    [Theory]
    [InlineData(8, 0.99, 0, 0.3, "6EC399CEDC83CCF7E6351DAE5EB7F680F79385E0B364379C5FE91AE415779F3E")]
    [InlineData(8, 0.99, 0, 0, "AC77A3750D2650F24015A2F1EB121C1FD941E58BE80353EEA2056AF389C1082F")]
    [InlineData(16, 0.999, 0, 0.3, "19055C795C87A102BDF90F4247FAFF9B18BB6ACA44F4C5D1FD34F40A137E8625")]
    [InlineData(5, 0.95, 0, 0, "4A424D015EC1C5F36A20C16F8005B6A074D0B666FF70F97AAEA79FD00A8DCF8E")]
    [InlineData(3, 1, 0, 0, "1EAFE1B6AA47A83D9A32F8805628C2DA0DB9E1B6FA0AF82A8640B36294DAC6DA")]
    [InlineData(64, 0.995, 0, 0.3, "83C1131A2A4DF84B19531421DC15850F07EFE3FFF7E7A00FA1A549DD6EE378A5")]
    [InlineData(8, 0.99, 20_000, 0.3, "A61704A887E4D4BB155F20E37E108AD8AB4C3734A617F2CB6935325AC4E16F65")]
    [InlineData(24, 0.99, 20_000, 0.3, "15FD492DCF71E9E9DD8601764B26EA22866AA998B4D1EEF84B5FE0F2C40E37AA")]
    [InlineData(8, 0.95, 5_000, 0, "D4CA062B3A1B1088FED279B09502048B3B049786B99959B163A65202E024C678")]
    [InlineData(3, 0.9, 5_000, 0, "982F7A50FC59F7E868F626EFEEC4F560FD9A37622AC3864B01874241419A09D8")]
    public void Finite_outputs_keep_the_bits_of_the_code_before_the_restart_rule(int order, double lambda, int zeros, double noise, string sha256)
    {
        var z = new double[zeros].Concat(RecurrentSines(order >= 32 ? 5_000 : 20_000, noise, seed: order)).ToArray();
        foreach (var width in Widths)
        {
            var y = Signals.Run(Create(order, lambda, width), z);
            Assert.All(y, v => Assert.True(double.IsFinite(v)));
            var digest = Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(y.AsSpan())));
            Assert.True(digest == sha256, $"{width}: the outputs' SHA-256 is {digest}, not the earlier code's {sha256}");
        }
    }

    /// <summary>The mean squared prediction error over the last 1000 samples, relative to their mean square.</summary>
    private static double RelativeError(double[] z, double[] y)
    {
        var tail = Enumerable.Range(z.Length - 1000, 1000);
        return tail.Average(n => (z[n] - y[n]) * (z[n] - y[n])) / tail.Average(n => z[n] * z[n]);
    }

    /// <summary>Offset 3 plus two sinusoids by the recurrence s(n) = c s(n-1) - s(n-2), plus uniform noise of the given amplitude.</summary>
    private static double[] RecurrentSines(int length, double noise, int seed)
    {
        var random = new Random(seed);
        var z = new double[length];
        double a1 = 0, a0 = 0.1, b1 = 0, b0 = 0.35;
        for (var n = 0; n < length; n++)
        {
            (a1, a0) = (a0, 1.99 * a0 - a1);
            (b1, b0) = (b0, 1.86 * b0 - b1);
            z[n] = 3 + 10 * a0 + 2 * b0 + noise * (random.NextDouble() - 0.5);
        }

        return z;
    }

    private static RlsFilter Create(int order, double lambda, VectorWidth width)
        => new(new RlsParameters(order, lambda, 0.01)) { Width = width };

    /// <summary>A state after 3,000 noisy samples, and the samples that follow them.</summary>
    private static (byte[] State, double[] Next) Learned(int order, int seed)
    {
        var z = Signals.Noisy(5_000, seed);
        var filter = Create(order, 0.99, VectorKernels.Best);
        filter.Process(z.AsSpan(0, 3_000), new double[3_000]);
        return (filter.SaveState(), z[3_000..]);
    }

    private static double[] Continue(byte[] state, VectorWidth width, double[] z, out byte[] after)
    {
        var filter = (RlsFilter)FilterFactory.Restore(state, "rls");
        filter.Width = width;
        var y = Signals.Run(filter, z);
        after = filter.SaveState();
        return y;
    }

    private static void Initial(Span<double> p, int order)
    {
        p.Clear();
        for (var i = 0; i < order; i++)
        {
            p[i * order + i] = 1 / 0.01;
        }
    }

    /// <summary>The state with its w, P (row by row) and taps changed, its checksum recomputed (docs/filters.md, "State snapshot format").</summary>
    private static byte[] WithState(byte[] state, int order, StateChange change)
    {
        const int start = 16 + 3 * 8;
        var values = new double[order + order * order + order];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadDoubleLittleEndian(state.AsSpan(start + 8 * i));
        }

        change(values.AsSpan(0, order), values.AsSpan(order, order * order), values.AsSpan(order + order * order));
        var changed = (byte[])state.Clone();
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(changed.AsSpan(start + 8 * i), values[i]);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(changed.AsSpan(changed.Length - 4), System.IO.Hashing.Crc32.HashToUInt32(changed.AsSpan(0, changed.Length - 4)));
        return changed;
    }

    private delegate void StateChange(Span<double> w, Span<double> p, Span<double> taps);

    /// <summary>
    /// A NaN or an infinity in the signal is propagated, as the formulas would (docs/filters.md), at every order. Until
    /// 2026-12-05 the order-8 kernel (the default) restarted the same sample forever: y = 0 . NaN stays NaN after w = 0.
    /// The services and the processor refuse such samples before filtering; a library caller hung.
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    [InlineData(16)]
    public async Task A_non_finite_input_is_propagated_and_the_call_returns(int order)
    {
        double[][] signals = [[double.NaN, 1, 2], [1, double.NegativeInfinity, 3], [0.5, double.PositiveInfinity, double.NaN, 1]];
        foreach (var signal in signals)
        {
            var output = await Task.Run(() =>
            {
                var filter = FilterFactory.Create("rls", new Dictionary<string, double> { ["order"] = order });
                var y = new double[signal.Length];
                filter.Process(signal, y);
                return y;
            }).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.True(double.IsNaN(output[^1]), $"order {order}, [{string.Join(", ", signal)}]: {string.Join(", ", output)}");
        }
    }
}
