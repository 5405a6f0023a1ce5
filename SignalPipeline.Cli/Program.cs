using System.CommandLine;

var root = new RootCommand("SignalPipeline command-line tool");
root.Subcommands.Add(SignalPipeline.Cli.Kubernetes.KubernetesCommand.Create());
return root.Parse(args).Invoke();
