using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The built bridge run as its own process, as deployed (<see cref="ExternalProcess.Service"/>): its page from the build
/// output and from a published folder in Production (docs/websocket-bridge.md, "The page").
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BridgeProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData(false)] // the build output: the page through the static web assets manifest (until 2026-12-06: 404 in Production)
    [InlineData(true)] // published, as the images are: wwwroot beside the assembly (until 2026-12-06: 404 unless started from its folder)
    public async Task The_built_or_published_bridge_serves_its_page_in_Production_whatever_its_working_directory(bool publish)
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        var elsewhere = Directory.CreateTempSubdirectory("bridge-cwd-");
        try
        {
            // Not the project folder nor the build output: the content root (the working directory) has no wwwroot.
            var start = ExternalProcess.Service("WebSocketBridge");
            if (publish)
            {
                var folder = Path.Combine(elsewhere.FullName, "published");
                var published = await ExternalProcess.RunAsync(ExternalProcess.Command("dotnet", "publish", Path.Combine(RepositoryLayout.Root, "WebSocketBridge", "WebSocketBridge.csproj"),
                    "-c", RepositoryLayout.Configuration, "--no-build", "--nologo", "-o", folder), TimeSpan.FromMinutes(3));
                Assert.True(published.ExitCode == 0, $"dotnet publish: {published.Output}{published.Error}");
                Assert.True(File.Exists(Path.Combine(folder, "wwwroot", "index.html")), "the published folder has no wwwroot/index.html");
                start.ArgumentList[0] = Path.Combine(folder, "WebSocketBridge.dll");
                start.WorkingDirectory = Directory.CreateDirectory(Path.Combine(elsewhere.FullName, "cwd")).FullName;
            }
            else
            {
                start.WorkingDirectory = elsewhere.FullName;
            }

            start.Environment["KAFKA_BROKERS"] = cluster.BootstrapServers;
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            using var bridge = Process.Start(start) ?? throw new InvalidOperationException("The bridge did not start.");
            var output = new StringBuilder();
            DataReceivedEventHandler append = (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            bridge.OutputDataReceived += append;
            bridge.ErrorDataReceived += append;
            bridge.BeginOutputReadLine();
            bridge.BeginErrorReadLine();
            try
            {
                string Output() { lock (output) { return output.ToString(); } }
                Match listening = Match.Empty;
                await Poll.UntilAsync(() => (listening = Regex.Match(Output(), @"Now listening on: (http://\S+)")).Success || bridge.HasExited, Patience,
                    () => $"the bridge to listen; output:{Environment.NewLine}{Output()}");
                Assert.False(bridge.HasExited, $"the bridge exited; output:{Environment.NewLine}{Output()}");

                using var http = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = TimeSpan.FromSeconds(10) };
                using var page = await http.GetAsync("/");
                Assert.True(page.StatusCode == HttpStatusCode.OK, $"GET / answered {(int)page.StatusCode}; output:{Environment.NewLine}{Output()}");
                Assert.Contains("<title>SignalPipeline · live</title>", await page.Content.ReadAsStringAsync());
                using var script = await http.GetAsync("/app.js");
                Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            }
            finally
            {
                bridge.Kill(entireProcessTree: true);
                await bridge.WaitForExitAsync().WaitAsync(Patience);
            }
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }
}
