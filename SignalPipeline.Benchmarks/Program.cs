using System.Reflection;
using BenchmarkDotNet.Running;
using SignalPipeline.Benchmarks;

if (args is ["filter-cpu-time"])
{
    FilterKernelCpuTime.Run();
    return;
}

if (args is ["codec-cpu-time"])
{
    CodecCpuTime.Run();
    return;
}

// Not typeof(Program): the referenced web projects (in-process gateway benchmark) expose a public Program too.
BenchmarkSwitcher.FromAssembly(Assembly.GetExecutingAssembly()).Run(args);
