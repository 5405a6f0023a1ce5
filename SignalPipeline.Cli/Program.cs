using System.CommandLine;

var root = new RootCommand("SignalPipeline command-line tool");
root.Subcommands.Add(SignalPipeline.Cli.Kubernetes.KubernetesCommand.Create());
root.Subcommands.Add(SignalPipeline.Cli.Bench.BenchCommand.Create());
SignalPipeline.Cli.Operations.OperationsCommands.AddTo(root);
return await root.Parse(args).InvokeAsync();
