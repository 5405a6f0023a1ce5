using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The built bridge run as its own process, as deployed (<see cref="ExternalProcess.Service"/>): its page from the build
/// output and from a published folder in Production (docs/websocket-bridge.md, "The page").
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BridgeProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task An_OUTPUT_TOPIC_a_reachable_cluster_does_not_have_stops_it_at_start_with_exit_code_1_naming_it()
    {
        // The bridge's own start-up topic check (docs/websocket-bridge.md, "Reading Kafka"; docs/kafka.md, "Checked at
        // start"), until now tested only in the generator and the shared TopicCheckService: the cluster answers and has
        // the default output topic, not the one OUTPUT_TOPIC names.
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        const string Missing = "bridge-missing-output";
        var start = ExternalProcess.Service("WebSocketBridge");
        start.Environment["KAFKA_BROKERS"] = cluster.BootstrapServers;
        start.Environment["OUTPUT_TOPIC"] = Missing;

        var run = await ExternalProcess.RunAsync(start, Patience);

        // 1, with the line that names the topic, its setting and the command that creates it, and before it listens.
        var output = run.Output + run.Error;
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
        Assert.Equal(
            $"crit: the service stopped: Kafka at {cluster.BootstrapServers} does not have the pipeline's topics as they must be: "
            + $"topic '{Missing}' (OUTPUT_TOPIC) does not exist. Run '{TopicCheck.FixCommand}' (docs/kafka.md) with the same Kafka "
            + $"settings to create '{Missing}'.",
            run.Error.Trim());
        Assert.DoesNotContain("Now listening on", output, StringComparison.Ordinal);

        // Nothing on the way (the check, the consumer) created it.
        using var admin = KafkaTestClients.CreateFactory(cluster.BootstrapServers).CreateAdminClient();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == Missing);
    }

    [Fact]
    public async Task A_SIGTERM_closes_its_clients_1001_and_the_process_exits_0()
    {
        // What Kubernetes sends a pod that stops (docs/websocket-bridge.md, close codes: 1001 "the bridge is shutting
        // down"); until now only an in-process host's stop was tested. Under the AppHost a stopped bridge was seen to
        // leave the page's socket open through the proxy: here nothing stands between the client and the process. The
        // client answers the close as a browser does; one that does not is the next test.
        using var cluster = MockKafkaCluster.Start(1);
        await using var bridge = await RunningBridge.StartAsync(cluster);
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);
        await client.SubscribeAsync("sensor-1");

        await bridge.TerminateAsync();

        var (status, reason) = await client.ReceiveCloseAsync().WaitAsync(Patience);
        await client.AnswerCloseAsync().WaitAsync(Patience);
        await bridge.Process.WaitForExitAsync().WaitAsync(Patience);

        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, status);
        Assert.StartsWith("the bridge is shutting down", reason, StringComparison.Ordinal);
        Assert.True(bridge.Process.ExitCode == 0, $"exit code {bridge.Process.ExitCode}; output:{Environment.NewLine}{bridge.Output()}");
    }

    [Fact]
    public async Task A_SIGTERM_cuts_a_client_that_never_answers_the_1001_and_the_process_still_exits_0()
    {
        // A client that reads the 1001 and answers nothing is cut 5 s after it (docs/websocket-bridge.md, "Protocol"), so
        // it does not hold the stop: Kestrel would wait for its connection up to HostOptions.ShutdownTimeout (30 s). A raw
        // socket, which answers nothing unless told; 20 s is a bound for "it did not wait for that", not a timing.
        using var cluster = MockKafkaCluster.Start(1);
        await using var bridge = await RunningBridge.StartAsync(cluster);
        using var deaf = await RawWebSocketClient.ConnectAsync(bridge.Address);
        Assert.Equal(RawWebSocketClient.Text, (await deaf.ReadFrameAsync())?.Opcode); // hello

        await bridge.TerminateAsync();

        var (status, reason) = await deaf.ReadCloseAsync();
        var sinceClose = Stopwatch.StartNew();
        Assert.Equal(1001, status);
        Assert.Equal("the bridge is shutting down", reason);

        // Nothing answered: the next read ends with the connection (an end of stream or a reset), not with a frame.
        var ended = await deaf.EndsBeforeAnotherFrameAsync();
        var cut = sinceClose.Elapsed;
        await bridge.Process.WaitForExitAsync().WaitAsync(Patience);
        var exited = sinceClose.Elapsed;

        Assert.True(ended, "a frame came after the close");
        Assert.True(exited < TimeSpan.FromSeconds(20),
            $"connection ended {cut.TotalSeconds:F1} s, process exited {exited.TotalSeconds:F1} s after the close; output:{Environment.NewLine}{bridge.Output()}");
        Assert.True(bridge.Process.ExitCode == 0, $"exit code {bridge.Process.ExitCode}; output:{Environment.NewLine}{bridge.Output()}");
    }

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
            await using (var bridge = await RunningBridge.StartAsync(start))
            {
                using var http = new HttpClient { BaseAddress = bridge.Address, Timeout = TimeSpan.FromSeconds(10) };
                using var page = await http.GetAsync("/");
                Assert.True(page.StatusCode == HttpStatusCode.OK, $"GET / answered {(int)page.StatusCode}; output:{Environment.NewLine}{bridge.Output()}");
                Assert.Contains("<title>SignalPipeline · live</title>", await page.Content.ReadAsStringAsync());
                using var script = await http.GetAsync("/app.js");
                Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            }
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    /// <summary>The built bridge as its own process, listening, its output collected; killed when disposed if still running.</summary>
    private sealed class RunningBridge : IAsyncDisposable
    {
        private readonly StringBuilder _output = new();

        private RunningBridge(Process process) => Process = process;

        public Process Process { get; }

        public Uri Address { get; private set; } = null!;

        public string Output()
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }

        /// <summary>The built bridge reading <paramref name="cluster"/>, which is given the default output topic.</summary>
        public static Task<RunningBridge> StartAsync(MockKafkaCluster cluster)
        {
            cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
            var start = ExternalProcess.Service("WebSocketBridge");
            start.Environment["KAFKA_BROKERS"] = cluster.BootstrapServers;
            return StartAsync(start);
        }

        public static async Task<RunningBridge> StartAsync(ProcessStartInfo start)
        {
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            var bridge = new RunningBridge(Process.Start(start) ?? throw new InvalidOperationException("The bridge did not start."));
            DataReceivedEventHandler append = (_, e) => { lock (bridge._output) { bridge._output.AppendLine(e.Data); } };
            bridge.Process.OutputDataReceived += append;
            bridge.Process.ErrorDataReceived += append;
            bridge.Process.BeginOutputReadLine();
            bridge.Process.BeginErrorReadLine();
            try
            {
                var listening = Match.Empty;
                await Poll.UntilAsync(() => (listening = Regex.Match(bridge.Output(), @"Now listening on: (http://\S+)")).Success || bridge.Process.HasExited, Patience,
                    () => $"the bridge to listen; output:{Environment.NewLine}{bridge.Output()}");
                Assert.False(bridge.Process.HasExited, $"the bridge exited; output:{Environment.NewLine}{bridge.Output()}");
                bridge.Address = new Uri(listening.Groups[1].Value);
                return bridge;
            }
            catch
            {
                await bridge.DisposeAsync();
                throw;
            }
        }

        /// <summary>Sends the process SIGTERM, as Kubernetes stops a pod.</summary>
        public async Task TerminateAsync()
        {
            using var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync().WaitAsync(Patience);
        }

        public async ValueTask DisposeAsync()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
            }

            await Process.WaitForExitAsync().WaitAsync(Patience);
            Process.Dispose();
        }
    }
}
