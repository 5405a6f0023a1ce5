using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.ServiceDefaults;

/// <summary>
/// <see cref="ServiceFailure.RunReportingFailuresAsync"/>: a background service that fails after the start stops the
/// host, and the run says so with 1 (docs/operations.md, "Exit codes"), where the host's own run ends as quietly as after
/// a stop asked for, which a process turns into exit code 0 (the generator's until 2026-12-06).
/// </summary>
public sealed class BackgroundServiceFailureTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_background_service_failing_after_the_start_makes_the_run_return_1_where_the_hosts_own_run_ends_as_a_stop()
    {
        using (var plain = Build())
        {
            // The host's own run: the failure is logged, the host stops, and the run returns normally.
            var worker = plain.Services.GetServices<IHostedService>().OfType<Failing>().Single();
            await plain.RunAsync().WaitAsync(Patience);
            Assert.True(worker.ExecuteTask!.IsFaulted);
        }

        using var app = Build();
        Assert.Equal(1, await app.RunReportingFailuresAsync().WaitAsync(Patience));
    }

    [Fact]
    public void A_stop_whose_message_names_the_fix_is_described_by_its_message_alone_and_a_bug_by_everything()
    {
        // A deleted topic or a refused ACL (the processor's TopicsChangedException, AccessRefusedException): one line, as
        // for a refused setting. Before 2026-12-07 its stack trace followed the message.
        Assert.Equal("topic 'x' is gone; fix: create it", ServiceFailure.Describe(new ServiceStopException("topic 'x' is gone; fix: create it")));
        var bug = new NullReferenceException("oops");
        Assert.Equal(bug.ToString(), ServiceFailure.Describe(bug));
        Assert.StartsWith("System.NullReferenceException: oops", ServiceFailure.Describe(bug));
    }

    [Fact]
    [Trait("Category", TestCategory.Integration)]
    public async Task The_generator_whose_worker_fails_after_the_start_exits_1_naming_the_failure()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);
        var start = ExternalProcess.Service("SignalGenerator");
        start.Environment["KAFKA_BROKERS"] = cluster.BootstrapServers;
        // A transactional producer takes no record before InitTransactions, which the generator never calls: its first
        // produce throws in the worker, after the start (the settings and the topic check pass).
        start.Environment["Kafka__Producer__transactional.id"] = "generator-test";

        var run = await ExternalProcess.RunAsync(start, Patience);

        var output = run.Output + run.Error;
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
        Assert.Contains("crit: the service stopped: Confluent.Kafka.ProduceException", run.Error);
    }

    private static IHost Build()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        builder.Services.AddHostedService<Failing>();
        return builder.Build();
    }

    /// <summary>Fails once the host has started, as a worker whose produce throws.</summary>
    private sealed class Failing : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            throw new InvalidOperationException("the worker failed");
        }
    }
}
