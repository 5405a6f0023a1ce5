using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using FilterKafkaProcessor.Directory;
using FilterKafkaProcessor.Inspection;
using SignalPipeline.Tests.Cli;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// <c>GET /streams/{id}</c> asked of an instance that does not hold the stream: it finds the owner through the instance
/// directory and answers with the owner's view; an owner that cannot be reached gives a 503 naming it, bounded in time.
/// </summary>
public sealed class StreamOwnerLookupTests
{
    private const string Lms = """{"algorithm":"lms","params":{"order":4}}""";
    private const string Lookups = "signalpipeline.processor.stream_lookups";

    [Fact]
    public async Task EitherInstanceAnswersWithTheOwnersStateAndAStreamNobodyHoldsIs404NamingTheInstancesAsked()
    {
        using var metrics = new MeasurementRecorder(global::FilterKafkaProcessor.ProcessorTelemetry.Name);
        using var kit = new StreamConfigKit(partitions: 2);
        kit.Configure("a", Lms);
        await using var pair = await StartTwoAsync(kit, () =>
        {
            kit.Produce(StreamConfigKit.Chunks("a", 0, 3), partition: 0);
            kit.Produce(StreamConfigKit.Chunks("b", 0, 2), partition: 1);
        }, () => kit.Harness.OutputCount("a") == 3 && kit.Harness.OutputCount("b") == 2);
        var (one, two, owner, other) = pair;

        var direct = await StreamHttpHost.Answered(owner.Http.GetStringAsync(new Uri("/streams/a", UriKind.Relative)), one, two);
        var forwarded = await StreamHttpHost.Answered(other.Http.GetStringAsync(new Uri("/streams/a", UriKind.Relative)), one, two);
        using var view = JsonDocument.Parse(forwarded);
        Assert.Equal(owner.Id, view.RootElement.GetProperty("instance").GetString());
        Assert.Equal(2, view.RootElement.GetProperty("lastSeq").GetInt64());
        Assert.Equal(4, view.RootElement.GetProperty("filter").GetProperty("vectors").GetProperty("weights").GetArrayLength());
        Assert.Equal(direct, forwarded); // the owner's own answer, unchanged

        // The other way round too: "b" lives on the other instance's partition.
        using var b = JsonDocument.Parse(await StreamHttpHost.Answered(owner.Http.GetStringAsync(new Uri("/streams/b", UriKind.Relative)), one, two));
        Assert.Equal(other.Id, b.RootElement.GetProperty("instance").GetString());

        // local=true: this instance alone (what a lookup asks, so lookups never chain).
        var local = await StreamHttpHost.Answered(other.Http.GetAsync(new Uri("/streams/a?local=true", UriKind.Relative)), one, two);
        Assert.Equal(HttpStatusCode.NotFound, local.StatusCode);
        Assert.Contains("Stream not held here", await local.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var nobody = await StreamHttpHost.Answered(other.Http.GetAsync(new Uri("/streams/nobody", UriKind.Relative)), one, two);
        Assert.Equal(HttpStatusCode.NotFound, nobody.StatusCode);
        var detail = await nobody.Content.ReadAsStringAsync();
        Assert.Contains($"not held by instance {other.Id} (input partitions [", detail, StringComparison.Ordinal);
        Assert.Contains($"nor by {owner.Id} (input partitions [", detail, StringComparison.Ordinal);

        // The CLI through the instance that does not hold the stream: the owner's view; a stream nobody holds: exit 1 naming both.
        var shown = await StreamHttpHost.Answered(StreamsCommandTests.Run("streams", "show", "a", "--processor", other.Url), one, two);
        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Contains($"\"instance\": \"{owner.Id}\"", shown.Output, StringComparison.Ordinal);
        var missing = await StreamHttpHost.Answered(StreamsCommandTests.Run("streams", "show", "nobody", "--processor", other.Url), one, two);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains($"404 Not Found: Stream 'nobody' is not held by instance {other.Id}", missing.Error, StringComparison.Ordinal);

        // GET /streams lists the directory's instances with their partitions and addresses.
        using var list = JsonDocument.Parse(await StreamHttpHost.Answered(other.Http.GetStringAsync(new Uri("/streams", UriKind.Relative)), one, two));
        var instances = list.RootElement.GetProperty("instances").EnumerateArray().ToList();
        Assert.Equal(["one", "two"], instances.Select(i => i.GetProperty("instance").GetString()));
        Assert.Equal(owner.Url, instances.Single(i => i.GetProperty("instance").GetString() == owner.Id).GetProperty("url").GetString());

        Assert.Equal(3, metrics.Sum(Lookups, ("outcome", "forwarded"))); // a, b and the CLI's a
        Assert.True(metrics.Sum(Lookups, ("outcome", "not-found")) >= 2);
        Assert.True(metrics.Sum("signalpipeline.processor.instances") >= 2);
    }

    [Fact]
    public async Task AStreamIdWithASlashIsLookedUpOnItsOwnerAsItIs()
    {
        // "x/y" and "x%2Fy" are two streams, one on each instance: asked of the other instance, each is forwarded by its
        // own id (routing leaves %2F encoded, so both would otherwise be "x%2Fy").
        using var kit = new StreamConfigKit(partitions: 2);
        await using var pair = await StartTwoAsync(kit, () =>
        {
            kit.Produce(StreamConfigKit.Chunks("x/y", 0, 1), partition: 0);
            kit.Produce(StreamConfigKit.Chunks("x%2Fy", 0, 1), partition: 1);
        }, () => kit.Harness.OutputCount("x/y") == 1 && kit.Harness.OutputCount("x%2Fy") == 1);
        var (one, two, owner, other) = pair;

        foreach (var (id, holder, asked) in new[] { ("x/y", owner, other), ("x%2Fy", other, owner) })
        {
            var path = new Uri("/streams/" + Uri.EscapeDataString(id), UriKind.Relative);
            using var view = JsonDocument.Parse(await StreamHttpHost.Answered(asked.Http.GetStringAsync(path), one, two));
            Assert.Equal(id, view.RootElement.GetProperty("streamId").GetString());
            Assert.Equal(holder.Id, view.RootElement.GetProperty("instance").GetString());
        }
    }

    [Fact]
    public async Task AnOwnerThatDoesNotAnswerGives503NamingItWithinTheTimeoutAndTheNextQuestionIsServed()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        var one = kit.Start("one");
        kit.Produce(StreamConfigKit.Chunks("a", 0, 2));
        kit.StepUntil(() => kit.Harness.OutputCount("a") == 2, one);
        using var silent = Silent();
        var goneUrl = ClosedPort();

        var directory = new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System);
        await using var host = await StreamHttpHost.StartAsync(one, "one", directory, new InstanceDirectoryOptions { StreamLookupTimeoutMs = 300 });
        directory.Apply("one", host.Entry([0]));
        directory.Apply("silent", new InstanceEntry("silent", silent.Url, [1], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        directory.Apply("gone", new InstanceEntry("gone", goneUrl, [2], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

        var response = await StreamHttpHost.Answered(host.Http.GetAsync(new Uri("/streams/elsewhere", UriKind.Relative)), one);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var detail = await response.Content.ReadAsStringAsync();
        Assert.Contains("Stream owner not reachable", detail, StringComparison.Ordinal);
        Assert.Contains($"silent ({silent.Url}): no answer within 300 ms", detail, StringComparison.Ordinal);
        Assert.Contains($"gone ({goneUrl}): ", detail, StringComparison.Ordinal);

        // A stream held here is still served, and once the dead instances leave the directory the answer is a plain 404.
        Assert.Equal(HttpStatusCode.OK, (await StreamHttpHost.Answered(host.Http.GetAsync(new Uri("/streams/a", UriKind.Relative)), one)).StatusCode);
        directory.Apply("silent", null);
        directory.Apply("gone", null);
        var notFound = await StreamHttpHost.Answered(host.Http.GetAsync(new Uri("/streams/elsewhere", UriKind.Relative)), one);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
    }

    [Fact]
    public async Task AnAnswerOverMaxAnswerBytesIsNotTakenAndGives503NamingTheInstance()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        var one = kit.Start("one");
        using var huge = new TcpListener(IPAddress.Loopback, 0);
        huge.Start();
        var hugeUrl = $"http://127.0.0.1:{((IPEndPoint)huge.LocalEndpoint).Port}";
        var answering = AnswerOnceAsync(huge, StreamLookup.MaxAnswerBytes + 1);

        var directory = new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System);
        await using var host = await StreamHttpHost.StartAsync(one, "one", directory, new InstanceDirectoryOptions { StreamLookupTimeoutMs = 10_000 });
        directory.Apply("one", host.Entry([0]));
        directory.Apply("huge", new InstanceEntry("huge", hugeUrl, [1], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

        var response = await StreamHttpHost.Answered(host.Http.GetAsync(new Uri("/streams/elsewhere", UriKind.Relative)), one);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var detail = await response.Content.ReadAsStringAsync();
        Assert.Contains($"huge ({hugeUrl}): ", detail, StringComparison.Ordinal);
        Assert.Contains(StreamLookup.MaxAnswerBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), detail, StringComparison.Ordinal);
        Assert.True(await answering.WaitAsync(TimeSpan.FromSeconds(30)), "The instance was asked.");
    }

    /// <summary>Answers the first request with a 200 of <paramref name="bytes"/> declared bytes (sends what the reader takes).</summary>
    private static async Task<bool> AnswerOnceAsync(TcpListener listener, int bytes)
    {
        using var client = await listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        var header = System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {bytes}\r\n\r\n");
        await stream.WriteAsync(header);
        var block = new byte[64 * 1024];
        block.AsSpan().Fill((byte)' ');
        try
        {
            for (var sent = 0; sent < bytes; sent += block.Length)
            {
                await stream.WriteAsync(block.AsMemory(0, Math.Min(block.Length, bytes - sent)));
            }
        }
        catch (IOException)
        {
            // the lookup gave up reading: what the test expects
        }

        return true;
    }

    [Fact]
    public async Task LookupsBeyondMaxStreamLookupsAreRefusedAtOnceAndServedAgainAfterwards()
    {
        using var metrics = new MeasurementRecorder(global::FilterKafkaProcessor.ProcessorTelemetry.Name);
        using var kit = new StreamConfigKit(partitions: 1);
        var one = kit.Start("one");
        kit.StepUntil(() => one.Thread.AssignedPartitions.Count == 1, one);
        using var silent = Silent();
        var directory = new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System);
        await using var host = await StreamHttpHost.StartAsync(one, "one", directory, new InstanceDirectoryOptions { StreamLookupTimeoutMs = 2000, MaxStreamLookups = 1 });
        directory.Apply("silent", new InstanceEntry("silent", silent.Url, [1], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

        // The first lookup holds the only slot while the silent instance keeps it waiting.
        var first = host.Http.GetAsync(new Uri("/streams/x", UriKind.Relative));
        await StreamHttpHost.Answered(silent.Accepted, one);
        var second = await StreamHttpHost.Answered(host.Http.GetAsync(new Uri("/streams/y", UriKind.Relative)), one);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.Contains("Too many stream lookups", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await first.WaitAsync(TimeSpan.FromSeconds(30))).StatusCode);
        directory.Apply("silent", null);
        var after = await StreamHttpHost.Answered(host.Http.GetAsync(new Uri("/streams/y", UriKind.Relative)), one);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        Assert.Equal(1, metrics.Sum(Lookups, ("outcome", "refused")));
        Assert.Equal(1, metrics.Sum(Lookups, ("outcome", "unreachable")));
    }

    /// <summary>
    /// Two instances of <paramref name="kit"/>'s two partitions, one each, answering HTTP and sharing one directory;
    /// <paramref name="produce"/> runs once both are assigned, then they step until <paramref name="done"/>.
    /// </summary>
    private static async Task<TwoInstances> StartTwoAsync(StreamConfigKit kit, Action produce, Func<bool> done)
    {
        var one = kit.Start("one");
        var two = kit.Start("two");
        kit.StepUntil(() => one.Thread.AssignedPartitions.Count == 1 && two.Thread.AssignedPartitions.Count == 1, one, two);
        produce();
        kit.StepUntil(done, one, two);

        // Both instances read the same directory topic: here one table both share, filled as the announcements would.
        var directory = new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System);
        var hostOne = await StreamHttpHost.StartAsync(one, "one", directory);
        var hostTwo = await StreamHttpHost.StartAsync(two, "two", directory);
        directory.Apply("one", hostOne.Entry(one.Thread.AssignedPartitions));
        directory.Apply("two", hostTwo.Entry(two.Thread.AssignedPartitions));
        var (owner, other) = one.Thread.AssignedPartitions.Contains(0) ? (hostOne, hostTwo) : (hostTwo, hostOne);
        return new TwoInstances(one, two, owner, other);
    }

    /// <summary>The instances, and their hosts: <see cref="Owner"/> holds partition 0.</summary>
    private sealed record TwoInstances(StreamConfigKit.Instance One, StreamConfigKit.Instance Two, StreamHttpHost Owner, StreamHttpHost Other) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Owner.DisposeAsync();
            await Other.DisposeAsync();
        }
    }

    /// <summary>An address where nothing listens (connection refused).</summary>
    private static string ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }

    private static SilentServer Silent() => new();

    /// <summary>Accepts connections and never answers (a hung instance).</summary>
    private sealed class SilentServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<TcpClient> _held = [];

        public SilentServer()
        {
            _listener.Start();
            Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
            Accepted = AcceptAsync();
        }

        public string Url { get; }

        /// <summary>Completes when the first connection is accepted.</summary>
        public Task<bool> Accepted { get; }

        private async Task<bool> AcceptAsync()
        {
            _held.Add(await _listener.AcceptTcpClientAsync());
            _ = KeepAcceptingAsync();
            return true;
        }

        private async Task KeepAcceptingAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync();
                    lock (_held)
                    {
                        _held.Add(client);
                    }
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // stopped
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            lock (_held)
            {
                _held.ForEach(c => c.Dispose());
            }
        }
    }
}
