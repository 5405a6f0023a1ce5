using System.Net.Http.Json;
using Aspire.Hosting;
using Confluent.Kafka;
using SignalPipeline.DevBroker;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>
/// Typed client of the dev broker's <c>/faults/*</c> endpoints (docs/kafka.md, "Fault injection"), for tests that run
/// the broker as a process. In an AppHost test: start the app with <c>Kafka:DevBroker:FaultInjection=true</c> and use
/// <see cref="For(DistributedApplication, string)"/>. Each call is bounded; a refused call throws with the problem text.
/// </summary>
public sealed class DevBrokerFaults(HttpClient http)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The client for the AppHost's dev broker resource (its <c>http</c> endpoint).</summary>
    public static DevBrokerFaults For(DistributedApplication app, string resourceName = "kafka")
        => new(app.CreateHttpClient(resourceName, DevKafkaBrokerResource.HttpEndpointName));

    /// <summary>The next <paramref name="errors"/>.Length requests of <paramref name="api"/> fail with these, in order.</summary>
    public Task PushRequestErrorsAsync(KafkaApi api, params ErrorCode[] errors)
        => PostAsync("/faults/request-errors", new { api = api.ToString(), errors = errors.Select(e => (int)e).ToArray() });

    /// <summary>Broker ids are 1..DevBroker:Brokers; <see cref="MockKafkaCluster.AllBrokers"/> (-1) is all.</summary>
    public Task SetBrokerDownAsync(int brokerId = 1) => PostAsync($"/faults/brokers/{brokerId}/down", null);

    public Task SetBrokerUpAsync(int brokerId = 1) => PostAsync($"/faults/brokers/{brokerId}/up", null);

    public Task SetBrokerRttAsync(int brokerId, TimeSpan rtt)
        => PostAsync($"/faults/brokers/{brokerId}/rtt", new { ms = (int)rtt.TotalMilliseconds });

    /// <summary>Reported in Metadata and AddPartitionsToTxn responses for the topic; <see cref="ErrorCode.NoError"/> clears it.</summary>
    public Task SetTopicErrorAsync(string topic, ErrorCode error)
        => PostAsync($"/faults/topics/{Uri.EscapeDataString(topic)}/error", new { error = (int)error });

    /// <summary>Deletes the topic and its records (<see cref="MockKafkaCluster.DeleteTopic"/>); <see cref="ClearAsync"/> does not bring it back.</summary>
    public Task DeleteTopicAsync(string topic)
        => PostAsync($"/faults/topics/{Uri.EscapeDataString(topic)}/delete", null);

    /// <summary>Queued request errors, topic errors, brokers down and RTT all undone.</summary>
    public Task ClearAsync() => PostAsync("/faults/clear", null);

    private async Task PostAsync(string path, object? body)
    {
        using var response = await (body is null ? http.PostAsync(path, null) : http.PostAsJsonAsync(path, body)).WaitAsync(CallTimeout);
        if (!response.IsSuccessStatusCode)
        {
            var problem = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
            throw new HttpRequestException($"POST {path} answered {(int)response.StatusCode}: {problem}", null, response.StatusCode);
        }
    }
}
