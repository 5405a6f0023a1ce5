using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>The dev broker as its own process: start, readiness, topics, SIGTERM, bad settings.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class DevBrokerProcessTests
{
    private static readonly TimeSpan Timeout = DevBrokerProcess.Timeout;

    [Fact]
    public async Task It_becomes_healthy_with_its_topics_and_stops_cleanly_on_SIGTERM()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:Topics=orders, payments", "--DevBroker:Partitions=3");

        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            var metadata = admin.GetMetadata(Timeout);
            Assert.Equal(3, metadata.Topics.Single(t => t.Topic == "orders").Partitions.Count);
            Assert.Equal(3, metadata.Topics.Single(t => t.Topic == "payments").Partitions.Count);
        }

        // Fault injection is off unless asked for, and then says nothing about it.
        Assert.DoesNotContain("Fault injection is on", broker.Output);
        using (var faults = await broker.Http.PostAsync("/faults/clear", null).WaitAsync(Timeout))
        {
            Assert.Equal(HttpStatusCode.NotFound, faults.StatusCode);
        }

        var kill = await ExternalProcess.RunAsync(ExternalProcess.Command("kill", "-TERM", broker.Process.Id.ToString()), Timeout);
        Assert.Equal(0, kill.ExitCode);
        await broker.Process.WaitForExitAsync().WaitAsync(Timeout);

        Assert.True(broker.Process.ExitCode == 0, $"exit code {broker.Process.ExitCode}; output:{Environment.NewLine}{broker.Output}");
        Assert.Contains("Dev Kafka broker stopped", broker.Output);
        using var client = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, broker.BootstrapPort).WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_bad_setting_stops_it_at_start_naming_the_setting()
    {
        using var broker = DevBrokerProcess.Start("--DevBroker:Partitions=0");
        await broker.Process.WaitForExitAsync().WaitAsync(Timeout);

        Assert.True(broker.Process.ExitCode == 1, $"exit code {broker.Process.ExitCode}; output:{Environment.NewLine}{broker.Output}");
        // The one line every service gives (ServiceStartFailureTests); before 2026-12-05 the broker's options were checked by
        // ValidateDataAnnotations: "DataAnnotation validation failed for 'DevBrokerOptions' members: 'Partitions' with the error: '...'".
        Assert.Equal("crit: the service stopped: Partitions: DevBroker:Partitions = 0 is out of range [1, 1000].", broker.Output.Trim());
    }

    [Fact]
    public async Task A_bootstrap_port_in_use_stops_it_at_start_naming_the_setting()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        // The last value of a key wins: this one over the free port Start picks.
        using var broker = DevBrokerProcess.Start($"--DevBroker:BootstrapPort={port}");
        await broker.Process.WaitForExitAsync().WaitAsync(Timeout);

        Assert.True(broker.Process.ExitCode == 1, $"exit code {broker.Process.ExitCode}; output:{Environment.NewLine}{broker.Output}");
        // One line, as for a bad setting (docs/kafka.md); before 2026-12-05 the host first logged "Hosting failed to start"
        // with the exception's stack trace, the port found taken inside its StartAsync.
        Assert.Equal($"crit: the service stopped: The dev broker cannot listen on DevBroker:BootstrapPort={port}: Address already in use",
            broker.Output.Trim());
    }
}
