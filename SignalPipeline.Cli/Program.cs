using System.CommandLine;

var root = new RootCommand("SignalPipeline command-line tool");
root.Subcommands.Add(SignalPipeline.Cli.Kubernetes.KubernetesCommand.Create());
root.Subcommands.Add(SignalPipeline.Cli.Bench.BenchCommand.Create());
root.Subcommands.Add(SignalPipeline.Cli.Kafka.KafkaCommand.Create());
SignalPipeline.Cli.Operations.OperationsCommands.AddTo(root);
root.Subcommands.Add(SignalPipeline.Cli.Compose.ComposeCommand.Create());
root.Subcommands.Add(SignalPipeline.Cli.Streams.StreamsCommand.Create());
return await root.Parse(args).InvokeAsync();
