using System.CommandLine;

var root = new RootCommand("SignalPipeline command-line tool");
root.Subcommands.Add(SignalPipeline.Cli.Kubernetes.KubernetesCommand.Create());
root.Subcommands.Add(SignalPipeline.Cli.Bench.BenchCommand.Create());
root.Subcommands.Add(SignalPipeline.Cli.Kafka.KafkaCommand.Create());
return await root.Parse(args).InvokeAsync();
