using System.Reflection;
using BenchmarkDotNet.Running;
using SignalPipeline.Benchmarks;

if (args is ["filter-cpu-time"])
{
    FilterKernelCpuTime.Run();
    return;
}

if (args is ["codec-cpu-time", .. var ops])
{
    // Optional: the ops to run, by substring of their names (e.g. "JSON encode, SampleCodec").
    CodecCpuTime.Run(ops);
    return;
}

// Not typeof(Program): the referenced web projects (in-process gateway benchmark) expose a public Program too.
BenchmarkSwitcher.FromAssembly(Assembly.GetExecutingAssembly()).Run(args);
