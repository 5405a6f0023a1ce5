using System.Runtime.InteropServices;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Filters;

/// <summary>
/// The filters' output does not depend on which vector width the machine accelerates (docs/filters.md: chunked equals
/// whole and a restored state continues bit-identically in another process, which may run on another node). The
/// outputs of this process (the widest path the machine has) are compared, bit for bit by SHA-256, with a child run of
/// this assembly with 256-bit vectors not preferred (the 128-bit kernels: the only way to reach them on x86, where
/// AVX2=0 also turns FMA off), one with AVX2 off (scalar kernels on x86) and one with every hardware intrinsic off.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class KernelFallbackTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Theory]
    [InlineData("DOTNET_PreferredVectorBitWidth", "128", "Kernels=Vector128")]
    [InlineData("DOTNET_EnableAVX2", "0", "Kernels=Scalar")]
    [InlineData("DOTNET_EnableHWIntrinsic", "0", "Kernels=Scalar")]
    public async Task Outputs_are_bit_identical_with_the_vector_path_switched_off(string variable, string value, string expectedAcceleration)
    {
        var start = ExternalProcess.Command("dotnet", "exec", typeof(KernelFallbackTests).Assembly.Location, KernelPathDigests.Command);
        start.Environment[variable] = value;
        var child = await ExternalProcess.RunAsync(start, Timeout);
        Assert.True(child.ExitCode == 0, $"exit {child.ExitCode}: {child.Error}");

        // The child really ran without the path, or this test compares nothing. DOTNET_EnableAVX2 is an x86 setting
        // (there it turns FMA off too, so the kernels are scalar: docs/filters.md, "Vector widths"); elsewhere the child
        // has no 256-bit vectors anyway.
        var isX86 = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86;
        Assert.Contains(variable == "DOTNET_EnableAVX2" && !isX86 ? "Vector256=False" : expectedAcceleration, child.Error);
        var expected = KernelPathDigests.Compute();
        var actual = child.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(expected.Count, actual.Length);
        var differing = expected.Where((line, i) => line != actual[i]).Select(line => line[..line.LastIndexOf(' ')]).ToList();
        Assert.True(differing.Count == 0, $"With {variable}={value} ({child.Error.Trim()}) the output differs for: {string.Join("; ", differing)}");
    }
}
