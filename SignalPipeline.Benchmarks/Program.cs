using System.Reflection;
using BenchmarkDotNet.Running;

// Not typeof(Program): the referenced web projects (in-process gateway benchmark) expose a public Program too.
BenchmarkSwitcher.FromAssembly(Assembly.GetExecutingAssembly()).Run(args);
