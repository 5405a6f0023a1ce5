using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

/// <summary>
/// A SHA-256 of each algorithm's output over a fixed noisy signal, for parameter sets that reach every kernel: the
/// unrolled orders of rls (8) and lms (4, 8, 12, 16), their general vector loops (other orders, with padding, up to
/// rls's largest order 64), ls in
/// start-up and in the steady-state FIR. Computed in this process and in children run with vector paths switched off
/// (<see cref="KernelFallbackTests"/>), so any difference between the paths shows as a different line.
/// </summary>
internal static class KernelPathDigests
{
    public const string Command = "filter-digests";

    private static readonly (string Algorithm, Dictionary<string, double> Parameters)[] Cases =
    [
        ("kalman", []),
        ("kalman", new() { ["q"] = 1e-9, ["r"] = 10 }),
        ("rls", new() { ["order"] = 8 }),
        ("rls", new() { ["order"] = 3, ["lambda"] = 1 }),
        ("rls", new() { ["order"] = 33, ["lambda"] = 0.999 }),
        ("rls", new() { ["order"] = 64, ["lambda"] = 0.995 }),
        ("lms", new() { ["order"] = 4 }),
        ("lms", new() { ["order"] = 8 }),
        ("lms", new() { ["order"] = 12, ["mu"] = 0.5 }),
        ("lms", new() { ["order"] = 16 }),
        ("lms", new() { ["order"] = 5, ["mu"] = 1.5 }),
        ("lms", new() { ["order"] = 256, ["mu"] = 0.2 }),
        ("ls", []),
        ("ls", new() { ["window"] = 101, ["degree"] = 5 }),
        ("ls", new() { ["window"] = 2, ["degree"] = 1 }),
    ];

    /// <summary>One line per case: <c>rls order=8 &lt;hex&gt;</c>.</summary>
    public static IReadOnlyList<string> Compute()
    {
        var z = Signals.Noisy(6000, seed: 17);
        return [.. Cases.Select(c =>
        {
            var y = Signals.Run(c.Algorithm, z, c.Parameters);
            var name = string.Join(' ', [c.Algorithm, .. c.Parameters.Select(p => $"{p.Key}={p.Value:R}")]);
            return $"{name} {Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(y.AsSpan())))}";
        })];
    }

    /// <summary>What the JIT accelerates in this process and the kernels' width, e.g. <c>Vector128=True Vector256=False ... Kernels=Vector128</c>.</summary>
    public static string Acceleration()
        => $"Vector128={Vector128.IsHardwareAccelerated} Vector256={Vector256.IsHardwareAccelerated} Vector512={Vector512.IsHardwareAccelerated} Kernels={VectorKernels.Best}";
}
