using SignalPipeline.Cli.Bench;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// How the bench starts a service: with the broker the bench chose, whatever the caller's shell holds. Every service reads
/// <c>ConnectionStrings__kafka</c> before <c>KAFKA_BROKERS</c> (docs/kafka.md), so one inherited from an AppHost's
/// environment sent the bench's processors to that cluster (until 2026-12-06: "filter-kafka-processor-0 was not healthy
/// within 60 s" with it pointing nowhere, or measurements of someone's cluster with it pointing somewhere).
/// </summary>
public sealed class ServiceProcessTests
{
    [Fact]
    public void A_service_gets_the_bench_s_broker_and_not_a_ConnectionStrings_kafka_of_the_caller()
    {
        const string variable = "ConnectionStrings__kafka";
        var before = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, "elsewhere.example:9092");
        try
        {
            var start = ServiceProcess.StartInfo(
                Path.Combine(Path.GetTempPath(), "FilterKafkaProcessor.dll"), "FilterKafkaProcessor", new Uri("http://127.0.0.1:5000"),
                new Dictionary<string, string> { ["KAFKA_BROKERS"] = "127.0.0.1:39092" });

            Assert.DoesNotContain(start.Environment.Keys, k => string.Equals(k, variable, StringComparison.OrdinalIgnoreCase));
            Assert.Equal("127.0.0.1:39092", start.Environment["KAFKA_BROKERS"]);
            Assert.Equal("http://127.0.0.1:5000/", start.Environment["ASPNETCORE_URLS"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, before);
        }
    }

    [Fact]
    public void A_free_port_is_one_nothing_listens_on_below_the_kernel_s_ephemeral_range()
    {
        // A port from the ephemeral range (bind(0)'s) can be taken by an outbound connection before the service binds it:
        // the dev broker's start failed so once in CI, "Address already in use".
        var start = ServiceProcess.EphemeralRangeStart();
        Assert.NotNull(start); // Linux, as CI and every host of this project

        var ports = Enumerable.Range(0, 20).Select(_ => ServiceProcess.FreePort()).ToList();

        Assert.All(ports, port => Assert.InRange(port, ServiceProcess.LowestPort, start.Value - 1));
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, ports[0]);
        listener.Start();
    }
}
