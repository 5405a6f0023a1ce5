using System.CommandLine;

var root = new RootCommand("SignalPipeline command-line tool");
return root.Parse(args).Invoke();
