using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>The dev broker as its own process: start, readiness, topics, SIGTERM, bad settings.</summary>
public sealed class DevBrokerProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task It_becomes_healthy_with_its_topics_and_stops_cleanly_on_SIGTERM()
    {
        var (httpPort, bootstrapPort) = (FreePort(), FreePort());
        using var broker = Start($"--urls=http://127.0.0.1:{httpPort}", $"--DevBroker:BootstrapPort={bootstrapPort}",
            "--DevBroker:Topics=orders, payments", "--DevBroker:Partitions=3");
        var output = Capture(broker);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
            await Poll.UntilAsync(() => IsHealthy(http), Timeout, () => $"/health to be Healthy; broker output:{Environment.NewLine}{output}");

            using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = $"127.0.0.1:{bootstrapPort}" }).Build())
            {
                var metadata = admin.GetMetadata(Timeout);
                Assert.Equal(3, metadata.Topics.Single(t => t.Topic == "orders").Partitions.Count);
                Assert.Equal(3, metadata.Topics.Single(t => t.Topic == "payments").Partitions.Count);
            }

            var kill = await ExternalProcess.RunAsync(ExternalProcess.Command("kill", "-TERM", broker.Id.ToString()), Timeout);
            Assert.Equal(0, kill.ExitCode);
            await broker.WaitForExitAsync().WaitAsync(Timeout);

            Assert.True(broker.ExitCode == 0, $"exit code {broker.ExitCode}; output:{Environment.NewLine}{output}");
            Assert.Contains("Dev Kafka broker stopped", output.ToString());
            using var client = new TcpClient();
            await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, bootstrapPort).WaitAsync(Timeout));
        }
        finally
        {
            if (!broker.HasExited)
            {
                broker.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task A_bad_setting_stops_it_at_start_naming_the_setting()
    {
        using var broker = Start($"--urls=http://127.0.0.1:{FreePort()}", "--DevBroker:Partitions=0");
        var output = Capture(broker);
        try
        {
            await broker.WaitForExitAsync().WaitAsync(Timeout);
        }
        finally
        {
            if (!broker.HasExited)
            {
                broker.Kill(entireProcessTree: true);
            }
        }

        Assert.NotEqual(0, broker.ExitCode);
        Assert.Contains("Partitions", output.ToString());
    }

    private static Process Start(params string[] arguments)
    {
        var start = ExternalProcess.Command("dotnet", [RepositoryLayout.OutputAssembly("SignalPipeline.DevBroker"), .. arguments]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        return Process.Start(start) ?? throw new InvalidOperationException("The dev broker did not start.");
    }

    /// <summary>Everything the process writes, as it writes it (so a pipe never fills up).</summary>
    private static SynchronizedText Capture(Process process)
    {
        var text = new SynchronizedText();
        process.OutputDataReceived += (_, e) => text.AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => text.AppendLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return text;
    }

    private static bool IsHealthy(HttpClient http)
    {
        try
        {
            return http.GetStringAsync("/health").GetAwaiter().GetResult() == "Healthy";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class SynchronizedText
    {
        private readonly System.Text.StringBuilder _text = new();

        public void AppendLine(string? line)
        {
            lock (_text)
            {
                _text.AppendLine(line);
            }
        }

        public override string ToString()
        {
            lock (_text)
            {
                return _text.ToString();
            }
        }
    }
}
