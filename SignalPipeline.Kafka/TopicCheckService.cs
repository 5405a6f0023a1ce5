using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SignalPipeline.Kafka;

/// <summary>
/// Runs <see cref="TopicCheck"/> when the host starts: a missing or wrong topic stops the service with a message that
/// names the topic, what is wrong and the command that fixes it, instead of a consumer that waits on nothing or a
/// producer that fails per message. A cluster that does not answer in time is left to the readiness check (logged, not
/// fatal), so a broker that starts after the service does not crash-loop it. The Kafka client settings were checked
/// before, with the other settings (<see cref="KafkaClientSettingsCheck"/>).
/// </summary>
public sealed class TopicCheckService(
    KafkaClientFactory factory, IReadOnlyList<TopicRequirement> required, ILogger<TopicCheckService> logger) : IHostedService
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<TopicProblem> problems;
        try
        {
            using var admin = factory.CreateAdminClient();
            problems = await Task.Run(() => TopicCheck.CheckAsync(admin, required, Timeout), cancellationToken);
        }
        catch (KafkaException ex)
        {
            logger.LogWarning("Could not check the topics {Topics} at start (Kafka at {Servers}: {Reason}); the readiness check reports the cluster",
                string.Join(", ", required.Select(r => r.Name)), factory.Settings.BootstrapServers, ex.Error.Reason);
            return;
        }

        if (problems.Count > 0)
        {
            throw new InvalidOperationException(TopicCheck.Describe(problems, factory.Settings.BootstrapServers));
        }

        logger.LogInformation("Topics {Topics} are in place", string.Join(", ", required.Select(r => r.Name)));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class TopicCheckServiceExtensions
{
    /// <summary>
    /// Checks <paramref name="topics"/> when the host starts (see <see cref="TopicCheckService"/>). Needs
    /// <see cref="KafkaHostingExtensions.AddKafkaClients{TBuilder}"/>. The topics are resolved from the service's own
    /// (validated) options, e.g. <c>sp =&gt; [new(PipelineTopics.Output, sp.GetRequiredService&lt;IOptions&lt;BridgeOptions&gt;&gt;().Value.Topic)]</c>.
    /// </summary>
    public static IServiceCollection AddKafkaTopicCheck(this IServiceCollection services, Func<IServiceProvider, IEnumerable<TopicRequirement>> topics)
        => services.AddHostedService(sp => new TopicCheckService(
            sp.GetRequiredService<KafkaClientFactory>(), [.. topics(sp)], sp.GetRequiredService<ILogger<TopicCheckService>>()));
}
