using System.Net;
using System.Text.Json;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// The AppHost's two processor replicas (behind Aspire's proxy, as behind a Kubernetes Service): each announces itself in
/// the directory topic, and either one answers <c>GET /streams/{id}</c> for every stream with the owner's state.
/// </summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class StreamOwnerAppHostTests(ProcessorAppFixture shared, ITestOutputHelper output) : IClassFixture<ProcessorAppFixture>
{
    private readonly ProcessorAppFixture fixture = shared.WithTestOutput(output);

    [Fact]
    public async Task EveryReplicaAnswersForEveryStreamWithTheOwnersState()
    {
        using var kit = await ProcessorTestKit.CreateAsync(fixture);
        await fixture.WaitForHealthyAsync(ProcessorAppFixture.Processor);
        var from = kit.EndOffsets(ProcessorTestKit.OutputTopic);
        var sent = Enumerable.Range(0, 8).Select(s => ProcessorTestKit.StreamId($"owner-{s}"))
            .ToDictionary(s => s, s => Enumerable.Range(0, 3).Select(seq => ProcessorTestKit.Chunk(s, seq, 50, SampleFormat.Float64)).ToList());
        foreach (var chunk in sent.Values.SelectMany(c => c))
        {
            kit.Produce(chunk);
        }

        kit.Flush();
        await kit.ReadAsync(from, ProcessorTestKit.Complete(sent.ToDictionary(s => s.Key, s => s.Value.Count)), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(3));

        // Through the proxy: wait until the directory lists both replicas, each with its own address.
        using var proxy = fixture.CreateHttpClient(ProcessorAppFixture.Processor);
        var instances = await BothInstancesAsync(proxy);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var owners = new HashSet<string>();
        foreach (var streamId in sent.Keys)
        {
            var answers = new List<string?>();
            foreach (var url in instances.Select(i => i.Url))
            {
                var response = await http.GetAsync(new Uri($"{url}/streams/{Uri.EscapeDataString(streamId)}")).WaitAsync(TimeSpan.FromSeconds(60));
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url} for {streamId}: {(int)response.StatusCode} {body}");
                using var view = JsonDocument.Parse(body);
                Assert.Equal(2, view.RootElement.GetProperty("lastSeq").GetInt64());
                answers.Add(view.RootElement.GetProperty("instance").GetString());
            }

            Assert.Single(answers.Distinct()); // both replicas name the same owner
            owners.Add(answers[0]!);
        }

        Assert.Equal(instances.Select(i => i.Instance).Order(), owners.Order()); // both own some: so each forwarded some
    }

    private static async Task<List<(string Instance, string Url)>> BothInstancesAsync(HttpClient proxy)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            var response = await proxy.GetAsync(new Uri("/streams?limit=1", UriKind.Relative)).WaitAsync(TimeSpan.FromSeconds(30));
            last = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                using var list = JsonDocument.Parse(last);
                var instances = list.RootElement.GetProperty("instances").EnumerateArray()
                    .Select(i => (i.GetProperty("instance").GetString()!, i.GetProperty("url").GetString()!, i.GetProperty("partitions").GetArrayLength()))
                    .ToList();
                if (instances.Count == 2 && instances.All(i => i.Item3 > 0))
                {
                    return [.. instances.Select(i => (i.Item1, i.Item2))];
                }
            }

            await Task.Delay(500);
        }

        Assert.Fail($"The directory did not list two replicas with partitions within 90 s; last answer: {last}");
        return [];
    }
}
