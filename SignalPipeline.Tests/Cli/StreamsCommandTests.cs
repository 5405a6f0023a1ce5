using System.CommandLine;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Streams;
using SignalPipeline.DevBroker;
using SignalPipeline.Filters;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

/// <summary><c>streams configure</c> and <c>streams config</c> against the mock broker (<c>streams show</c>: StreamOwnerLookupTests).</summary>
[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class StreamsCommandTests(MockBrokerFixture broker)
{
    [Fact]
    public async Task ConfigureWritesAValidatedResolvedEntryRefusesABadOneAndConfigListsTheLatest()
    {
        var topic = broker.NewTopic("stream-config");

        var written = await Run("streams", "configure", "s1", "--algorithm", "RLS", "--param", "order=16", "-p", "lambda=0.995", "--topic", topic, "-b", broker.Bootstrap);
        Assert.True(written.ExitCode == 0, written.ToString());
        var config = StreamFilterConfig.Parse(Assert.Single(broker.ReadAll(topic, "s1")).Message.Value);
        Assert.Equal(("rls", 16.0, 0.995, 0.01), (config.Algorithm, config.Parameters["order"], config.Parameters["lambda"], config.Parameters["delta"]));

        var refused = await Run("streams", "configure", "s1", "--algorithm", "rls", "--param", "order=0", "--topic", topic, "-b", broker.Bootstrap);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("order", refused.Error, StringComparison.Ordinal);
        Assert.Single(broker.ReadAll(topic, "s1"));

        await Run("streams", "configure", "s3", "--algorithm", "lms", "--topic", topic, "-b", broker.Bootstrap);
        var reset = await Run("streams", "configure", "s3", "--reset", "--topic", topic, "-b", broker.Bootstrap);
        Assert.True(reset.ExitCode == 0, reset.ToString());
        broker.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("s2"), Value = Encoding.UTF8.GetBytes("{\"algorithm\":\"fft\"}") });
        // The processor ignores a key that is not UTF-8: read with U+FFFD for its bad byte, it would be a stream "s\uFFFD".
        broker.Produce(topic, new Message<byte[], byte[]> { Key = [(byte)'s', 0xFF], Value = Encoding.UTF8.GetBytes("{\"algorithm\":\"ls\"}") });

        var list = await Run("streams", "config", "--topic", topic, "-b", broker.Bootstrap);
        Assert.True(list.ExitCode == 0, list.ToString());
        var lines = list.Output.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("s1", StringComparison.Ordinal) && l.Contains("rls", StringComparison.Ordinal) && l.Contains("order=16,lambda=0.995,delta=0.01", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("s2", StringComparison.Ordinal) && l.Contains("(refused)", StringComparison.Ordinal) && l.Contains("fft", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("s3", StringComparison.Ordinal));
        Assert.Contains("2 entries", list.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.StartsWith("s\uFFFD", StringComparison.Ordinal));
        Assert.Contains("ignored by the processor: the record key is not valid UTF-8: 73FF, so it names no stream", list.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigListShowsAnEntryOverTheSizeLimitAsRefusedAsTheProcessorRefusesIt()
    {
        // docs/messages.md: a value over 4096 bytes is refused (invalid-stream-config); operations.md: `config` shows an entry
        // that would be refused as (refused) with the reason. Before 2026-12-05 it listed a padded valid entry as kalman,
        // which every processor refused.
        var topic = broker.NewTopic("stream-config");
        var padded = """{"algorithm":"kalman","params":{}}""" + new string(' ', 4096);
        broker.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("big"), Value = Encoding.UTF8.GetBytes(padded) });

        var list = await Run("streams", "config", "--topic", topic, "-b", broker.Bootstrap);

        Assert.True(list.ExitCode == 0, list.ToString());
        var line = Assert.Single(list.Output.Split('\n'), l => l.StartsWith("big", StringComparison.Ordinal));
        Assert.Contains("(refused)", line, StringComparison.Ordinal);
        Assert.Contains($"the value is {padded.Length} bytes, over the 4096 a stream-config entry may take", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigListEscapesControlCharactersOfKeysAndRefusals()
    {
        // A stream id may hold any UTF-8, ESC included: printed raw it drew on the operator's terminal (as kafka tail's).
        var topic = broker.NewTopic("stream-config");
        broker.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("s\u001b[2J"), Value = Encoding.UTF8.GetBytes("{\"algorithm\":\"kalman\"}") });
        broker.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("t"), Value = Encoding.UTF8.GetBytes("{\"algorithm\":\"f\u001b[31mt\"}") });

        var list = await Run("streams", "config", "--topic", topic, "-b", broker.Bootstrap);

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains(@"s\x1b[2J", list.Output, StringComparison.Ordinal);
        Assert.Contains("(refused)", list.Output, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', list.Output + list.Error);
    }

    [Fact]
    public async Task ConfigListReadingLongerThanTheNoProgressLimitCompletesWhileTheClusterKeepsAnswering()
    {
        var topic = broker.NewTopic("stream-config");
        for (var stream = 0; stream < 30; stream++)
        {
            broker.Produce(new TopicPartition(topic, 0), new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes($"s{stream}"), Value = Encoding.UTF8.GetBytes("{\"algorithm\":\"kalman\"}") });
        }

        // The dev broker returns one batch per partition per fetch and each entry is a batch of its own: the reading takes
        // 30 round trips, longer in total than the limit, each well inside it.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        CliRunner.Result slow;
        broker.Cluster.SetBrokerRtt(MockKafkaCluster.AllBrokers, TimeSpan.FromMilliseconds(150));
        try
        {
            slow = await CliRunner.RunAsync(StreamsCommand.Create(TimeSpan.FromSeconds(2)), "streams", "config", "--topic", topic, "-b", broker.Bootstrap);
        }
        finally
        {
            broker.Cluster.ClearFaults();
        }

        Assert.True(slow.ExitCode == 0, slow.ToString());
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(4), $"the verb took {clock.Elapsed}: the case needs it longer than the limit");
        Assert.Contains("30 entries", slow.Output, StringComparison.Ordinal);
        Assert.Contains(slow.Output.Split('\n'), l => l.StartsWith("s29 ", StringComparison.Ordinal) && l.Contains("kalman", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ConfigListIsGivenUpWhenTheClusterGivesNothingForTheNoProgressLimit()
    {
        var topic = broker.NewTopic("stream-config");
        broker.Produce(new TopicPartition(topic, 2), new Message<byte[], byte[]> { Key = "s1"u8.ToArray(), Value = Encoding.UTF8.GetBytes("{\"algorithm\":\"kalman\"}") });

        CliRunner.Result stuck;
        broker.Cluster.SetPartitionLeader(topic, 2, MockKafkaCluster.AllBrokers);
        try
        {
            stuck = await CliRunner.RunAsync(StreamsCommand.Create(TimeSpan.FromSeconds(2)), "streams", "config", "--topic", topic, "-b", broker.Bootstrap);
        }
        finally
        {
            broker.Cluster.SetPartitionLeader(topic, 2, 1);
        }

        Assert.True(stuck.ExitCode == 1, stuck.ToString());
        Assert.Contains($"error: reading {topic} made no progress for 2 s: no record and no partition end came (partitions not read to their end: 2).", stuck.Error, StringComparison.Ordinal);
        Assert.Empty(stuck.Output);
    }

    [Theory]
    [InlineData("--reset takes no --algorithm or --param.", "s1", "--reset", "--algorithm", "rls")]
    [InlineData("--algorithm is required (kalman, rls, ls or lms), or --reset.", "s1")]
    [InlineData("--param 'order' is not name=number.", "s1", "--algorithm", "rls", "--param", "order")]
    [InlineData("--param 'order=many' is not name=number.", "s1", "--algorithm", "rls", "--param", "order=many")]
    [InlineData("the stream id must be 1 to 256 bytes of UTF-8, as a stream id; got 0.", "", "--algorithm", "rls")]
    // Before 2026-12-04 an id of 300 bytes was written (and ignored by every processor) and " ", a stream id, refused.
    [InlineData("the stream id must be 1 to 256 bytes of UTF-8, as a stream id; got 300.", "x300", "--algorithm", "rls")]
    [InlineData("--param ORDER is given twice (parameter names are case-insensitive).", "s1", "--algorithm", "rls", "--param", "order=8", "--param", "ORDER=16")]
    public async Task ConfigureRefusesABadEntryWithExitTwoBeforeAnythingIsWritten(string message, params string[] args)
    {
        // No broker at this address: a refusal that came after a connection attempt would say so instead.
        var result = await Run(["streams", "configure", .. args.Select(a => a == "x300" ? new string('x', 300) : a), "-b", "127.0.0.1:1"]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1001")]
    public async Task ListWithALimitOutsideOneToAThousandExitsTwoNamingTheOption(string limit)
    {
        var result = await Run("streams", "list", "--limit", limit, "--processor", "http://127.0.0.1:1");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"--limit must be 1 to 1000, not {limit}.", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAddressThatAnswersSomethingOtherThanJsonIsOneErrorLineWithExitOne()
    {
        // PROCESSOR_URL pointed at another service, e.g. one that answers every path with an HTML page.
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
        }

        using var listener = new System.Net.HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var serve = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            context.Response.ContentType = "text/html";
            await context.Response.OutputStream.WriteAsync("<html><body>not a processor</body></html>"u8.ToArray());
            context.Response.Close();
        });

        var result = await Run("streams", "show", "sensor-7", "--processor", $"http://127.0.0.1:{port}");
        await serve.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal(
            $"error: http://127.0.0.1:{port}/streams/sensor-7 answered 200 with something that is not JSON: is --processor the address of a filter-kafka-processor?",
            result.Error.Trim());
        Assert.Equal("", result.Output);
    }

    internal static async Task<CliRunner.Result> Run(params string[] args)
    {
        var root = new RootCommand("test") { StreamsCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var exit = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancel.Token).WaitAsync(TimeSpan.FromSeconds(120));
        return new CliRunner.Result(exit, output.ToString(), error.ToString());
    }
}
