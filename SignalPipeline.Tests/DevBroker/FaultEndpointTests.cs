using System.Net;
using System.Net.Http.Json;
using Confluent.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>The dev broker process's <c>/faults/*</c> endpoints, through <see cref="DevBrokerFaults"/> and raw HTTP.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class FaultEndpointTests(FaultEndpointTests.Broker broker) : IClassFixture<FaultEndpointTests.Broker>
{
    private static readonly TimeSpan Timeout = DevBrokerProcess.Timeout;

    /// <summary>One broker process (2 brokers, fault injection on) shared by the tests of this class.</summary>
    public sealed class Broker : IAsyncLifetime
    {
        public DevBrokerProcess Process { get; private set; } = null!;

        public async Task InitializeAsync()
            => Process = await DevBrokerProcess.StartHealthyAsync(
                "--DevBroker:FaultInjection=true", "--DevBroker:Topics=orders", "--DevBroker:Partitions=1", "--DevBroker:Brokers=2");

        public Task DisposeAsync()
        {
            Process?.Dispose();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public void On_it_says_so_at_start_in_a_warning_naming_the_setting()
    {
        // docs/kafka.md, "Over HTTP": "On, the broker logs a warning at start" (off, DevBrokerProcessTests: no such line).
        Assert.Contains("warn: SignalPipeline.DevBroker", broker.Process.Output);
        Assert.Contains("Fault injection is on (DevBroker:FaultInjection=true): POST /faults/* can fail requests and take brokers down", broker.Process.Output);
    }

    [Fact]
    public async Task Faults_injected_over_HTTP_reach_a_real_client_and_clear_undoes_them()
    {
        var faults = new DevBrokerFaults(broker.Process.Http);
        await faults.ClearAsync();
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = broker.Process.BootstrapServers,
            TransactionalId = "tx-http",
        }).Build();
        producer.InitTransactions(Timeout);

        // An abortable EndTxn error reaches CommitTransaction; the next transaction commits.
        await faults.PushRequestErrorsAsync(KafkaApi.EndTxn, ErrorCode.UnknownProducerId);
        producer.BeginTransaction();
        await producer.ProduceAsync("orders", new Message<Null, string> { Value = "1" }).WaitAsync(Timeout);
        var abortable = Assert.Throws<KafkaTxnRequiresAbortException>(() => producer.CommitTransaction(Timeout));
        Assert.Equal(ErrorCode.UnknownProducerId, abortable.Error.Code);
        producer.AbortTransaction(Timeout);

        // Brokers down: the delivery waits; up: it completes.
        await faults.SetBrokerDownAsync(MockKafkaCluster.AllBrokers);
        producer.BeginTransaction();
        var delivery = producer.ProduceAsync("orders", new Message<Null, string> { Value = "2" });
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(delivery.IsCompleted, "delivered while the broker was down");
        await faults.SetBrokerUpAsync(MockKafkaCluster.AllBrokers);
        Assert.Equal(PersistenceStatus.Persisted, (await delivery.WaitAsync(Timeout)).Status);
        producer.CommitTransaction(Timeout);

        // Everything queued or set is undone by clear.
        await faults.PushRequestErrorsAsync(KafkaApi.EndTxn, ErrorCode.UnknownProducerId, ErrorCode.UnknownProducerId);
        await faults.SetBrokerRttAsync(MockKafkaCluster.AllBrokers, TimeSpan.FromMilliseconds(50));
        await faults.ClearAsync();
        producer.BeginTransaction();
        await producer.ProduceAsync("orders", new Message<Null, string> { Value = "3" }).WaitAsync(Timeout);
        producer.CommitTransaction(Timeout);
    }

    [Theory]
    [InlineData("/faults/request-errors", """{"api":"Commit","errors":["NOT_ENOUGH_REPLICAS"]}""", "Commit")]
    [InlineData("/faults/request-errors", """{"api":"Produce","errors":["NOT_ENOUGH_REPLICAS","NOT_A_REAL_ERROR"]}""", "errors[1]")]
    [InlineData("/faults/request-errors", """{"api":"Produce","errors":[123456]}""", "123456")]
    [InlineData("/faults/request-errors", """{"api":"Produce","errors":[]}""", "'errors'")]
    [InlineData("/faults/brokers/1/rtt", """{"ms":-5}""", "'ms'")]
    [InlineData("/faults/topics/orders/error", """{"error":"NOPE"}""", "NOPE")]
    [InlineData("/faults/request-errors", """{"api":""", "not valid JSON")]
    [InlineData("/faults/request-errors", """{"api":"Produce","errors":"NOT_ENOUGH_REPLICAS"}""", "$.errors")]
    [InlineData("/faults/brokers/1/rtt", "", """like {"ms":200}""")]
    // A broker id that is not a whole number: a 400 naming it, not the bare 404 of an unmatched route (until 2026-12-05).
    [InlineData("/faults/brokers/abc/down", "", "The broker id 'abc' is not a whole number: ids are 1 to 2")]
    [InlineData("/faults/brokers/1.5/up", "", "The broker id '1.5' is not a whole number")]
    [InlineData("/faults/brokers/one/rtt", """{"ms":10}""", "The broker id 'one' is not a whole number")]
    public async Task Bad_input_is_a_400_problem_naming_what_is_wrong(string path, string json, string named)
    {
        var http = broker.Process.Http;
        using var response = await http.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json")).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync().WaitAsync(Timeout));
        Assert.Contains(named, problem.RootElement.GetProperty("detail").GetString());

        // Still serving afterwards.
        using var ok = await http.PostAsJsonAsync("/faults/request-errors", new { api = "produce", errors = new object[] { "NOT_ENOUGH_REPLICAS", 19, "_TRANSPORT" } }).WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
        await new DevBrokerFaults(http).ClearAsync();
    }

    [Fact]
    public Task Health_is_unready_while_a_configured_topic_reports_an_error_and_alive_stays_healthy()
        // docs/kafka.md and docs/operations.md: /health is healthy once a client sees every configured topic without an
        // error; /alive is the process, never unhealthy. Read over HTTP from the broker process, as a probe would.
        => AssertUnreadyAndAliveWhileAsync("'orders' reports an error",
            faults => faults.SetTopicErrorAsync("orders", ErrorCode.TopicAuthorizationFailed));

    [Fact]
    public Task Health_is_unready_while_no_broker_answers_metadata_and_alive_stays_healthy()
        // docs/operations.md's readiness table: the dev broker is unready when "a client gets no metadata through the
        // bootstrap port in 3 s". Every broker down.
        => AssertUnreadyAndAliveWhileAsync("no broker answers",
            async faults =>
            {
                await faults.SetBrokerDownAsync(1);
                await faults.SetBrokerDownAsync(2);
            });

    /// <summary>/health turns 503 Unhealthy while <paramref name="fault"/> holds, /alive stays 200, and /health is 200 once it is cleared.</summary>
    private async Task AssertUnreadyAndAliveWhileAsync(string what, Func<DevBrokerFaults, Task> fault)
    {
        var faults = new DevBrokerFaults(broker.Process.Http);
        await faults.ClearAsync();
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await ProbeAsync("/health"));
        try
        {
            await fault(faults);
            (HttpStatusCode Status, string Body) health = default;
            await Poll.UntilAsync(() => (health = ProbeAsync("/health").GetAwaiter().GetResult()).Status != HttpStatusCode.OK, Timeout,
                () => $"/health to turn unready while {what} (got {health})");
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unhealthy"), health);
            Assert.Equal((HttpStatusCode.OK, "Healthy"), await ProbeAsync("/alive"));
        }
        finally
        {
            await faults.ClearAsync();
        }

        await Poll.UntilAsync(() => ProbeAsync("/health").GetAwaiter().GetResult().Status == HttpStatusCode.OK, Timeout,
            () => $"/health to be healthy again once the fault ({what}) is cleared");
    }

    private async Task<(HttpStatusCode Status, string Body)> ProbeAsync(string path)
    {
        using var response = await broker.Process.Http.GetAsync(path).WaitAsync(Timeout);
        return (response.StatusCode, await response.Content.ReadAsStringAsync().WaitAsync(Timeout));
    }

    [Fact]
    public async Task An_unknown_broker_is_a_404_problem_naming_the_valid_ids()
    {
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => new DevBrokerFaults(broker.Process.Http).SetBrokerDownAsync(3));

        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Contains("ids are 1 to 2", refused.Message);
    }

    [Theory]
    [InlineData("/faults/brokers/3/down", "", "Broker 3 does not exist")]
    [InlineData("/faults/brokers/0/up", "", "Broker 0 does not exist")]
    [InlineData("/faults/brokers/-2/rtt", """{"ms":10}""", "Broker -2 does not exist")]
    // A whole number no int holds: unknown, like any other missing broker (the int route constraint left it a bare 404).
    [InlineData("/faults/brokers/99999999999/down", "", "Broker 99999999999 does not exist")]
    public async Task An_unknown_broker_id_in_the_path_is_a_404_problem_naming_it_and_the_valid_ids(string path, string json, string named)
    {
        using var response = await broker.Process.Http.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json")).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync().WaitAsync(Timeout));
        var detail = problem.RootElement.GetProperty("detail").GetString();
        Assert.Contains(named, detail);
        Assert.Contains("ids are 1 to 2 (DevBroker:Brokers), or -1 for all.", detail);
    }

    [Fact]
    public async Task A_topic_deleted_over_HTTP_is_gone_and_an_unknown_one_is_a_404_problem_naming_it()
    {
        // Its own topic, created by producing to it: the other tests share this broker's 'orders'.
        var faults = new DevBrokerFaults(broker.Process.Http);
        const string Topic = "deleted-over-http";
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.Process.BootstrapServers }).Build())
        {
            await producer.ProduceAsync(Topic, new Message<Null, string> { Value = "created" }).WaitAsync(Timeout);
        }

        await faults.DeleteTopicAsync(Topic);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Process.BootstrapServers }).Build();
        Assert.DoesNotContain(admin.GetMetadata(Timeout).Topics, t => t.Topic == Topic);

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => faults.DeleteTopicAsync(Topic));
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Contains($"'{Topic}'", refused.Message);
    }
}
