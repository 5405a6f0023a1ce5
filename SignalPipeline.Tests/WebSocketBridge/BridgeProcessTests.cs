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
/// output in Production (docs/websocket-bridge.md, "The page").
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BridgeProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task The_built_bridge_serves_its_page_in_Production_whatever_its_working_directory()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        var elsewhere = Directory.CreateTempSubdirectory("bridge-cwd-");
        try
        {
            // Not the project folder nor the build output: the content root (the working directory) has no wwwroot.
            var start = ExternalProcess.Service("WebSocketBridge");
            start.WorkingDirectory = elsewhere.FullName;
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
