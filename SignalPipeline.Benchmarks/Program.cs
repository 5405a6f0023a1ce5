using BenchmarkDotNet.Running;
using SignalPipeline.Benchmarks;

if (args is ["filter-cpu-time"])
{
    FilterKernelCpuTime.Run();
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
