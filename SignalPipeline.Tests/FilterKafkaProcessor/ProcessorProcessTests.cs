using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Messages;
using SignalPipeline.Tests.DevBroker;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The built processor as its own process, against the dev broker process: how it stops when it cannot run, and what its probes say when it cannot move its input.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ProcessorProcessTests
{
    private static readonly TimeSpan Timeout = DevBrokerProcess.Timeout;

    [Fact]
    public async Task A_message_max_bytes_no_checkpoint_fits_stops_it_at_start_with_exit_code_1_in_one_line_naming_the_setting()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync();

        // The topics are in place: only the producer's message size is wrong.
        var start = ExternalProcess.Service("FilterKafkaProcessor");
        start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
        start.Environment["Kafka__Producer__message.max.bytes"] = "1000";
        var run = await ExternalProcess.RunAsync(start, Timeout);

        // 1, not 0 (the host's own exit code after a failed background service), nor 134: the stream-config reader's
        // consumer was disposed under its running Consume, and glibc aborted the process as it exited.
        var output = run.Output + run.Error;
        Assert.Contains("Kafka:Producer:message.max.bytes", output);
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");

        // One line naming it, as for every refused setting (docs/processor.md, Settings; docs/operations.md, "Exit codes"):
        // before 2026-12-05 the stream thread found it after the host had started, and the host logged three stack
        // traces on stdout and nothing on stderr.
        Assert.Equal(
            "crit: the service stopped: Kafka:Producer:message.max.bytes (or Kafka:Client:message.max.bytes) = 1000 is out of range [131072, 1000000000]: "
            + "a stream's checkpoint (its filter state, up to 65536 bytes, and its held chunks) must fit one message.",
            run.Error.Trim());
        Assert.DoesNotContain("BackgroundService failed", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_instances_topic_found_after_the_start_check_stops_it_with_exit_code_1_naming_it()
    {
        // No instance directory topic, and a topic error that makes the start-up topic check give up (a cluster it
        // cannot read is left to readiness), so the instance directory's own look-up is the one that finds it missing.
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true",
            "--DevBroker:Topics=sample-input,sample-output,sample-dlq,filter-kafka-processor-state-changelog,stream-config");
        await new DevBrokerFaults(broker.Http).SetTopicErrorAsync("sample-dlq", ErrorCode.LeaderNotAvailable);

        var start = ExternalProcess.Service("FilterKafkaProcessor");
        start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
        var run = await ExternalProcess.RunAsync(start, Timeout);

        // 1, as for a topic the start-up check finds missing (docs/processor.md, Settings), not the host's 0 after a failed background service.
        var output = run.Output + run.Error;
        Assert.Contains("INSTANCES_TOPIC: topic 'filter-kafka-processor-instances' does not exist", output);
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
    }

    [Fact]
    public async Task Filter_services_out_of_reach_make_it_unready_but_leave_it_alive()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync();

        // Remote mode against a gateway address nobody listens on: every batch fails as a transport failure, retried
        // in process. Kubernetes restarts on /alive; a restart cannot bring the filter services back.
        using var processor = await RunningProcessor.StartAsync(broker, new()
        {
            ["FILTER_MODE"] = "remote",
            ["FILTER_GATEWAY_URL"] = $"http://127.0.0.1:{LoopbackPort.Free()}",
            ["Processor__MaxBatchAttempts"] = "1",
        });
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            var chunk = new SampleChunk("unreachable-filter", 0, new double[] { 0.1, 0.2, 0.3 }, 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await producer.ProduceAsync("sample-input", SampleCodec.ToMessage(chunk)).WaitAsync(Timeout);
        }

        // The health check's reason is in its error log line, written when /health is asked. The stream thread marks the
        // batch failed before it logs "Batch failed (", so /health can say so first: both are waited for.
        await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.ServiceUnavailable && processor.Output.Contains("Processor:MaxBatchAttempts", StringComparison.Ordinal),
            Timeout, () => $"/health to say the batch failed; output:{Environment.NewLine}{processor.Output}");
        await Poll.UntilAsync(() => processor.Output.Contains("Batch failed (", StringComparison.Ordinal),
            Timeout, () => $"the processor to log the failed batch; output:{Environment.NewLine}{processor.Output}");
        Assert.Equal(HttpStatusCode.OK, processor.Status("/alive"));
    }

    [Fact]
    public async Task A_Kafka_error_at_the_stream_threads_start_is_retried_unready_and_it_starts_once_the_error_is_gone()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);

        // The stream-config reader catches up; then the stream thread's look-up of the output topic meets the error (on a
        // real cluster: a topic just created, a coordinator not yet up, a broker restarting under a fresh deployment).
        await faults.SetTopicErrorAsync("sample-output", ErrorCode.LeaderNotAvailable);
        using var processor = await RunningProcessor.StartAsync(broker, []);

        // Until 2026-12-03 the first failed start exited 1, and Kubernetes' back-off then outlasted the cluster's start.
        await Poll.UntilAsync(() => processor.Output.Contains("could not start (attempt 2;", StringComparison.Ordinal) || processor.HasExited, Timeout,
            () => $"a second start; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();
        Assert.Contains("Leader not available", processor.Output);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, processor.Status("/health"));
        Assert.Equal(HttpStatusCode.OK, processor.Status("/alive"));

        await faults.ClearAsync();
        await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.OK || processor.HasExited, Timeout,
            () => $"/health to turn healthy once the error is gone; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();
        Assert.Contains("Filtering sample-input -> sample-output", processor.Output);
    }

    [Fact]
    public async Task Every_broker_down_mid_stream_then_up_it_stays_alive_recovers_by_itself_and_writes_every_seq_once()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        using var processor = await RunningProcessor.StartAsync(broker, new() { ["Processor__DevBrokerCompensation"] = "true" });
        var outage = TimeSpan.FromSeconds(30);
        var patience = 2 * Timeout + outage; // a hung commit call is given up after 60 s

        // Four streams, one chunk each every 100 ms, through the outage (the producer keeps them until the brokers are back).
        string[] streams = ["down-1", "down-2", "down-3", "down-4"];
        await using var input = FlowingInput.Start(broker.BootstrapServers, streams);
        using var output = new CommittedOutput(broker.BootstrapServers);
        await Poll.UntilAsync(() => output.Read().Count > 0 || processor.HasExited, Timeout, () => $"a first output; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();

        // Kafka away: unready, never dead (a restart cannot bring the brokers back); /alive is asked throughout.
        var aliveFailures = new List<string>();
        using var stopAsking = new CancellationTokenSource();
        var asking = Task.Run(async () =>
        {
            while (!stopAsking.IsCancellationRequested)
            {
                if (processor.Status("/alive") is { } status and not HttpStatusCode.OK)
                {
                    lock (aliveFailures) { aliveFailures.Add($"{DateTime.UtcNow:HH:mm:ss} /alive {(int)status}"); }
                }

                await Task.Delay(1000);
            }
        });
        await faults.SetBrokerDownAsync(MockKafkaCluster.AllBrokers);
        await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.ServiceUnavailable, Timeout, () => "/health to turn unready with every broker down");
        await Task.Delay(outage);
        await faults.SetBrokerUpAsync(MockKafkaCluster.AllBrokers);

        // Until 2026-12-03 the first commit after the restore never returned from SendOffsetsToTransaction
        // (librdkafka#5456): nothing more was written, and only /alive's restart (after 120 s) freed it.
        var before = input.Sent;
        await Poll.UntilAsync(() => output.Read().Count(o => o.Seq >= before) >= streams.Length || processor.HasExited, patience,
            () => $"output for seqs sent after the outage; output:{Environment.NewLine}{processor.Output}");
        await AssertEverySeqOnceAsync(processor, input, output, patience);
        await stopAsking.CancelAsync();
        await asking.WaitAsync(Timeout);

        lock (aliveFailures)
        {
            Assert.True(aliveFailures.Count == 0, $"/alive failed: {string.Join(", ", aliveFailures)}; output:{Environment.NewLine}{processor.Output}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(500)]
    public async Task SIGTERM_with_every_broker_down_exits_0_with_the_stop_line_before_the_hosts_shutdown_timeout_and_the_next_processor_writes_every_seq_once(int roundTripMs)
    {
        // Until 2026-12-04 a stop waited for the commit in flight (30 s with Kafka away, the transaction timeout) and then
        // for its abort (30 s more): the host's 30 s shutdown timeout ended the process first, without the stop line and
        // with the consumer still in the group (seen in CI when the brokers went down under a commit). A 500 ms round trip
        // keeps a commit in flight nearly all the time (each takes several), so the brokers go down under one.
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        var environment = new Dictionary<string, string> { ["Processor__DevBrokerCompensation"] = "true" };
        string[] streams = ["term-1", "term-2", "term-3", "term-4"];
        await using var input = FlowingInput.Start(broker.BootstrapServers, streams);
        using var output = new CommittedOutput(broker.BootstrapServers);
        using (var processor = await RunningProcessor.StartAsync(broker, environment))
        {
            await Poll.UntilAsync(() => output.Read().Count > 0 || processor.HasExited, Timeout, () => $"a first output; output:{Environment.NewLine}{processor.Output}");
            processor.AssertRunning();
            if (roundTripMs > 0)
            {
                await faults.SetBrokerRttAsync(MockKafkaCluster.AllBrokers, TimeSpan.FromMilliseconds(roundTripMs));
                await Task.Delay(TimeSpan.FromSeconds(3));
            }

            // Kafka goes away; the rollout (or the scale-in) does not wait for it to come back.
            await faults.SetBrokerDownAsync(MockKafkaCluster.AllBrokers);
            await Task.Delay(TimeSpan.FromSeconds(1));
            processor.Terminate();
            var shutdownTimeout = new Microsoft.Extensions.Hosting.HostOptions().ShutdownTimeout;
            await Poll.UntilAsync(() => processor.HasExited, shutdownTimeout + TimeSpan.FromSeconds(5),
                () => $"the processor to exit within the host's shutdown timeout ({shutdownTimeout.TotalSeconds} s); output:{Environment.NewLine}{processor.Output}");
            Assert.True(processor.ExitCode == 0, $"exit code {processor.ExitCode}; output:{Environment.NewLine}{processor.Output}");
            Assert.True(processor.Output.Contains("Stopped; consumer closed", StringComparison.Ordinal), $"no stop line; output:{Environment.NewLine}{processor.Output}");
            Assert.True(roundTripMs == 0 || processor.Output.Contains("Stopping with a batch of", StringComparison.Ordinal),
                $"no line for the batch in flight; output:{Environment.NewLine}{processor.Output}");
            var stopped = processor.ExitTime - processor.TerminatedAt;
            Assert.True(stopped < shutdownTimeout, $"stopped {stopped.TotalSeconds:0.0} s after SIGTERM; output:{Environment.NewLine}{processor.Output}");
        }

        // What it had read but not committed is read again by the next owner, from the checkpoint: nothing lost, nothing twice.
        await faults.ClearAsync();
        using var next = await RunningProcessor.StartAsync(broker, environment);
        await AssertEverySeqOnceAsync(next, input, output, 3 * Timeout);
    }

    [Fact]
    public async Task SIGTERM_while_it_waits_for_Kafka_at_start_stops_it_before_the_hosts_shutdown_timeout_without_a_failure()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        await faults.SetBrokerDownAsync(MockKafkaCluster.AllBrokers);
        using var processor = await RunningProcessor.StartAsync(broker, []);
        await Poll.UntilAsync(() => processor.Output.Contains("Reading stream-config failed", StringComparison.Ordinal) || processor.HasExited, Timeout,
            () => $"the start to wait for Kafka; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();

        // Until 2026-12-04 the stop went on into the stream thread's start, whose look-ups failed: the host waited its
        // whole shutdown timeout, then logged "BackgroundService failed" (crit) for a stop that was asked for.
        processor.Terminate();
        var shutdownTimeout = new Microsoft.Extensions.Hosting.HostOptions().ShutdownTimeout;
        await Poll.UntilAsync(() => processor.HasExited, Timeout, () => $"the processor to exit; output:{Environment.NewLine}{processor.Output}");
        Assert.True(processor.ExitCode == 0, $"exit code {processor.ExitCode}; output:{Environment.NewLine}{processor.Output}");
        Assert.DoesNotContain("crit:", processor.Output);
        Assert.DoesNotContain("BackgroundService failed", processor.Output);
        Assert.True(processor.ExitTime - processor.TerminatedAt < shutdownTimeout,
            $"stopped {processor.ExitTime - processor.TerminatedAt} after SIGTERM, the host's whole shutdown timeout; output:{Environment.NewLine}{processor.Output}");
    }

    [Fact]
    public async Task A_topic_error_on_the_changelog_mid_stream_makes_it_unready_not_dead_and_once_cleared_every_seq_is_written_once()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        using var processor = await RunningProcessor.StartAsync(broker, new() { ["Processor__DevBrokerCompensation"] = "true", ["Processor__MaxBatchAttempts"] = "2" });
        await using var input = FlowingInput.Start(broker.BootstrapServers, ["changelog-1", "changelog-2", "changelog-3"]);
        using var output = new CommittedOutput(broker.BootstrapServers);
        await Poll.UntilAsync(() => output.Read().Count > 0 || processor.HasExited, Timeout, () => $"a first output; output:{Environment.NewLine}{processor.Output}");

        // The changelog's partitions cannot join a transaction (AddPartitionsToTxn answers the error): every batch aborts
        // and is retried with backoff, unready after MaxBatchAttempts, alive (a restart would meet the same error).
        await faults.SetTopicErrorAsync("filter-kafka-processor-state-changelog", ErrorCode.LeaderNotAvailable);
        await Poll.UntilAsync(() => (processor.Status("/health") == HttpStatusCode.ServiceUnavailable && processor.Output.Contains("Batch failed (Abortable, attempt 2)", StringComparison.Ordinal)) || processor.HasExited,
            Timeout, () => $"/health to say the batches fail; output:{Environment.NewLine}{processor.Output}");
        Assert.Equal(HttpStatusCode.OK, processor.Status("/alive"));

        await faults.SetTopicErrorAsync("filter-kafka-processor-state-changelog", ErrorCode.NoError);
        await AssertEverySeqOnceAsync(processor, input, output, 2 * Timeout);
        Assert.Equal(HttpStatusCode.OK, processor.Status("/alive"));
    }

    [Theory]
    [InlineData("sample-output", "OUTPUT_TOPIC")]
    [InlineData("sample-input", "INPUT_TOPIC")]
    public async Task A_topic_deleted_while_it_runs_stops_it_with_exit_code_1_naming_the_topic(string topic, string setting)
    {
        // What StreamThreadTests show with the in-memory cluster, against librdkafka's own clients and mock broker. A record
        // for a deleted topic fails when the transaction timeout runs out (5 s here instead of 30 s, so the test takes
        // seconds). The group consumer reports a deleted input topic through its error callback, UnknownTopicOrPart per
        // partition (about 30 s after the deletion here), and from Consume only after its metadata refresh
        // (topic.metadata.refresh.interval.ms, 5 minutes by default; with 1 s it came within seconds), so that interval
        // stays at its default: until 2026-12-05 the processor heeded only Consume's error and consumed nothing meanwhile.
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        using var processor = await RunningProcessor.StartAsync(broker, new() { ["Kafka__Producer__transaction.timeout.ms"] = "5000" });
        using var output = new CommittedOutput(broker.BootstrapServers);

        // No topic auto-creation, as the processor's own producer: the test's producer must not create the topic again.
        using var input = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            AllowAutoCreateTopics = false,
            MessageTimeoutMs = 5000,
        }).Build();
        const int Before = 3;
        for (var seq = 0; seq < Before; seq++)
        {
            await input.ProduceAsync("sample-input", SampleCodec.ToMessage(Chunk(seq))).WaitAsync(Timeout);
        }

        await Poll.UntilAsync(() => output.Read().Count >= Before || processor.HasExited, Timeout, () => $"the first chunks' outputs; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();

        await faults.DeleteTopicAsync(topic);
        for (var seq = Before; seq < 2 * Before; seq++)
        {
            // A record for a deleted input topic is not delivered: only what reaches the processor matters here.
            input.Produce("sample-input", SampleCodec.ToMessage(Chunk(seq)));
        }

        await Poll.UntilAsync(() => processor.HasExited, Timeout, () => $"the processor to stop after {topic} was deleted; output:{Environment.NewLine}{processor.Output}");
        Assert.True(processor.ExitCode == 1, $"exit code {processor.ExitCode}; output:{Environment.NewLine}{processor.Output}");
        Assert.Contains($"{setting}: topic '{topic}' does not exist any more", processor.Output);

        static SampleChunk Chunk(long seq) => new("deleted-topic", seq, new double[] { seq, 0.5, -0.5 }, 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    [Theory]
    [InlineData(KafkaApi.AddPartitionsToTxn, ErrorCode.TopicAuthorizationFailed)] // WRITE on the output or changelog taken away
    [InlineData(KafkaApi.TxnOffsetCommit, ErrorCode.GroupAuthorizationFailed)] // READ on the group taken away
    [InlineData(KafkaApi.AddOffsetsToTxn, ErrorCode.GroupAuthorizationFailed)]
    public async Task An_ACL_taken_away_while_it_runs_stops_it_with_exit_code_1_naming_what_it_needs_and_started_again_it_loses_nothing(KafkaApi api, ErrorCode refusal)
    {
        // Until 2026-12-07 every retry of the batch was refused the same way, /health unhealthy after Processor:MaxBatchAttempts
        // naming, for the partition case, not the refusal but "Local_PurgeQueue": librdkafka purges a failed transaction's
        // records and gives its error only to the next transactional call.
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        using var output = new CommittedOutput(broker.BootstrapServers);
        using (var processor = await RunningProcessor.StartAsync(broker, []))
        {
            await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.OK || processor.HasExited, Timeout, () => $"/health to be healthy; output:{Environment.NewLine}{processor.Output}");
            await faults.PushRequestErrorsAsync(api, Enumerable.Repeat(refusal, 1000).ToArray());
            await ProduceAsync(broker, Chunk(0));

            await Poll.UntilAsync(() => processor.HasExited, Timeout, () => $"the processor to stop on {refusal}; output:{Environment.NewLine}{processor.Output}");
            Assert.True(processor.ExitCode == 1, $"exit code {processor.ExitCode}; output:{Environment.NewLine}{processor.Output}");
            Assert.Contains($"Kafka refused the processor access; it stops: the batch's transaction failed with {refusal}", processor.Output);
            Assert.Contains("READ on topic 'sample-input' (INPUT_TOPIC) and on group 'filter-kafka-processor', WRITE on topics 'sample-output' (OUTPUT_TOPIC)", processor.Output);
            Assert.Single(Regex.Matches(processor.Output, "Batch failed \\("));
        }

        // The ACL given back: the chunk refused is processed, once.
        await faults.ClearAsync();
        using var again = await RunningProcessor.StartAsync(broker, []);
        await Poll.UntilAsync(() => output.Read().Count > 0 || again.HasExited, Timeout, () => $"seq 0's output; output:{Environment.NewLine}{again.Output}");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal([("acl", 0L)], output.Read());

        static SampleChunk Chunk(long seq) => new("acl", seq, new double[] { seq, 0.5, -0.5 }, 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task READ_on_the_input_taken_away_while_it_runs_stops_it_with_exit_code_1_naming_what_it_needs()
    {
        // Until 2026-12-07 the group consumer's "Topic authorization failed" was a warning per fetch, and /health stayed healthy.
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        using var processor = await RunningProcessor.StartHealthyAsync(broker, []);
        await faults.PushRequestErrorsAsync(KafkaApi.Fetch, Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 1000).ToArray());

        await Poll.UntilAsync(() => processor.HasExited, Timeout, () => $"the processor to stop; output:{Environment.NewLine}{processor.Output}");
        Assert.True(processor.ExitCode == 1, $"exit code {processor.ExitCode}; output:{Environment.NewLine}{processor.Output}");

        // The broker refuses every fetch, so whichever of its three readers fetches first names the stop: the group consumer,
        // the stream-config reader or the instance directory (each alone: the tests below).
        Assert.Matches("Kafka refused the processor access; it stops: (the group consumer's TopicAuthorizationFailed"
            + "|reading the stream configs of topic 'stream-config' while following it failed with TopicAuthorizationFailed"
            + "|the instance directory's topic 'filter-kafka-processor-instances' was refused with TopicAuthorizationFailed)", processor.Output);
    }

    [Theory]
    [InlineData("stream-config", "reading the stream configs of topic 'stream-config' before processing failed with TopicAuthorizationFailed", "READ on topic 'stream-config' (STREAM_CONFIG_TOPIC)")]
    [InlineData("filter-kafka-processor-instances", "the instance directory's topic 'filter-kafka-processor-instances' was refused with TopicAuthorizationFailed",
        "READ and WRITE on topic 'filter-kafka-processor-instances' (INSTANCES_TOPIC)")]
    public async Task READ_missing_on_the_stream_config_or_directory_topic_at_the_start_stops_it_with_exit_code_1(string topic, string expected, string needed)
    {
        // Until 2026-12-07 each retried forever: the stream-config reader with a warning a second (the stream thread never
        // started, /health unready), the instance directory every 5 s while the stream thread ran.
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        await faults.SetTopicErrorAsync(topic, ErrorCode.TopicAuthorizationFailed);

        var start = ExternalProcess.Service("FilterKafkaProcessor");
        start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
        var run = await ExternalProcess.RunAsync(start, Timeout);

        var output = run.Output + run.Error;
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
        Assert.Contains($"crit: the service stopped: Kafka refused the processor access; it stops: {expected}", run.Error);
        Assert.Contains(needed, run.Error);
    }

    [Fact]
    public async Task READ_on_the_stream_config_topic_taken_away_while_it_runs_stops_it_with_exit_code_1()
    {
        // Until 2026-12-07 the reader's consumer logged the refusal once (librdkafka reports a partition's error once) and
        // then read nothing more: every stream kept the config it had, unseen. Its metadata refreshed every second here, so
        // the topic's refusal reaches its assigned partitions (librdkafka: "desired partition is not available").
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        using var processor = await RunningProcessor.StartHealthyAsync(broker, new() { ["Kafka__Client__topic.metadata.refresh.interval.ms"] = "1000" });
        await faults.SetTopicErrorAsync("stream-config", ErrorCode.TopicAuthorizationFailed);

        await Poll.UntilAsync(() => processor.HasExited, Timeout, () => $"the processor to stop; output:{Environment.NewLine}{processor.Output}");
        Assert.True(processor.ExitCode == 1, $"exit code {processor.ExitCode}; output:{Environment.NewLine}{processor.Output}");
        Assert.Contains("crit: the service stopped: Kafka refused the processor access; it stops: reading the stream configs of topic 'stream-config' "
            + "while following it failed with TopicAuthorizationFailed", processor.Output);
        Assert.Contains("Stopped; consumer closed", processor.Output); // the stream thread's clean stop: its partitions handed over at once
    }

    [Fact]
    public async Task WRITE_on_the_directory_topic_taken_away_while_it_runs_stops_it_with_exit_code_1()
    {
        // Until 2026-12-07 each heartbeat's refused announcement was a warning, forever; other instances dropped this one
        // from their directories and stopped forwarding it questions. Nothing else produces here: no input.
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        using var processor = await RunningProcessor.StartHealthyAsync(broker, new() { ["Processor__DirectoryHeartbeatSeconds"] = "1" });
        await faults.PushRequestErrorsAsync(KafkaApi.Produce, Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 1000).ToArray());

        await Poll.UntilAsync(() => processor.HasExited, Timeout, () => $"the processor to stop; output:{Environment.NewLine}{processor.Output}");
        Assert.True(processor.ExitCode == 1, $"exit code {processor.ExitCode}; output:{Environment.NewLine}{processor.Output}");
        Assert.Contains("crit: the service stopped: Kafka refused the processor access; it stops: the instance directory's topic 'filter-kafka-processor-instances' "
            + "was refused with TopicAuthorizationFailed", processor.Output);
        Assert.Contains("READ and WRITE on topic 'filter-kafka-processor-instances' (INSTANCES_TOPIC)", processor.Output);
    }

    [Theory]
    [InlineData(KafkaApi.InitProducerId, ErrorCode.TransactionalIdAuthorizationFailed, "the start's TransactionalIdAuthorizationFailed")]
    [InlineData(KafkaApi.Metadata, ErrorCode.TopicAuthorizationFailed, "the start's TopicAuthorizationFailed (topic 'sample-output'")]
    public async Task An_ACL_missing_at_the_start_stops_it_with_exit_code_1_instead_of_waiting_like_for_an_outage(KafkaApi api, ErrorCode refusal, string expected)
    {
        // A Kafka error at the stream thread's start is retried every 5 s, unready, as a broker not up yet; an ACL refused
        // is not waited out. Metadata: only the stream thread's look-up of the output topic is refused (DESCRIBE missing).
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);
        if (api == KafkaApi.Metadata)
        {
            await faults.SetTopicErrorAsync("sample-output", refusal);
        }
        else
        {
            await faults.PushRequestErrorsAsync(api, Enumerable.Repeat(refusal, 1000).ToArray());
        }

        var start = ExternalProcess.Service("FilterKafkaProcessor");
        start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
        var run = await ExternalProcess.RunAsync(start, Timeout);

        var output = run.Output + run.Error;
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
        Assert.Contains($"Kafka refused the processor access; it stops: {expected}", output);

        // One line on stderr, the message alone, as for a refused setting (docs/operations.md, "Exit codes").
        Assert.Matches("^crit: the service stopped: Kafka refused the processor access; it stops: [^\n]*Nothing uncommitted was kept: started again, it resumes from the last commit\\.$", run.Error.Trim());
        Assert.DoesNotContain("could not start (attempt 2;", output, StringComparison.Ordinal);
    }

    private static async Task ProduceAsync(DevBrokerProcess broker, SampleChunk chunk)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        await producer.ProduceAsync("sample-input", SampleCodec.ToMessage(chunk)).WaitAsync(Timeout);
    }

    [Fact]
    public async Task Input_the_broker_deleted_before_it_was_read_is_named_by_the_next_owner_with_its_offsets_and_the_stream_goes_on()
    {
        // What ProcessorMetricsTests show with the in-memory cluster, against librdkafka and the dev broker, whose retention
        // (the newest ~5 MiB of a partition, PLATFORM.md) deletes input while no processor runs, as a real cluster's
        // retention.ms does to a partition left unowned longer. librdkafka jumps to the log's start with only its OFFSET
        // warning (auto.offset.reset=earliest); the processor names the offsets from the log start its consumer fetched.
        using var broker = await DevBrokerProcess.StartHealthyAsync();
        using var output = new CommittedOutput(broker.BootstrapServers);
        using var input = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var partition = new TopicPartition("sample-input", 0);
        await input.ProduceAsync(partition, SampleCodec.ToMessage(Chunk(0, 3))).WaitAsync(Timeout);
        using (var first = await RunningProcessor.StartAsync(broker, []))
        {
            await Poll.UntilAsync(() => output.Read().Count == 1 || first.HasExited, Timeout, () => $"seq 0's output; output:{Environment.NewLine}{first.Output}");
            first.Terminate();
            await Poll.UntilAsync(() => first.HasExited, Timeout, () => $"the first processor to stop; output:{Environment.NewLine}{first.Output}");
        }

        // 100 copies of seq 0 of 64 KB each (6.4 MB: duplicates, so no output of them can be trimmed away in turn), then seq 1.
        for (var i = 0; i < 100; i++)
        {
            input.Produce(partition, SampleCodec.ToMessage(Chunk(0, 8000) with { Format = SampleFormat.Float64 }));
        }

        await input.ProduceAsync(partition, SampleCodec.ToMessage(Chunk(1, 3))).WaitAsync(Timeout);
        using var watermarks = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "watermarks" }).Build();
        var low = watermarks.QueryWatermarkOffsets(partition, Timeout).Low.Value;
        Assert.True(low > 1, $"the dev broker kept partition 0 from offset {low}: nothing after the committed offset 1 was deleted");

        using var second = await RunningProcessor.StartAsync(broker, []);
        await Poll.UntilAsync(() => output.Read().Count == 2 || second.HasExited, Timeout, () => $"seq 1's output; output:{Environment.NewLine}{second.Output}");
        Assert.Equal([("deleted-input", 0L), ("deleted-input", 1L)], output.Read());
        Assert.Contains($"Input partition 0: offsets 1-{low - 1} were deleted (retention or DeleteRecords) before this group read them; {low - 1} record(s) never processed, the streams go on from offset {low}", second.Output);

        static SampleChunk Chunk(long seq, int samples) => new("deleted-input", seq, new double[samples], 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    /// <summary>Stops the input, then waits for every seq sent of each stream in sample-output and /health back; none twice.</summary>
    private static async Task AssertEverySeqOnceAsync(RunningProcessor processor, FlowingInput input, CommittedOutput output, TimeSpan patience)
    {
        var last = await input.StopAsync();
        var streams = input.Streams;
        await Poll.UntilAsync(() => output.Read().Select(o => (o.Stream, o.Seq)).Distinct().Count() >= streams.Count * last || processor.HasExited, patience,
            () => $"every seq below {last} of each stream in sample-output; output:{Environment.NewLine}{processor.Output}");
        await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.OK || processor.HasExited, Timeout, () => $"/health back; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();

        var written = output.Read();
        var duplicates = written.GroupBy(o => o).Where(g => g.Count() > 1).Select(g => $"{g.Key.Stream}#{g.Key.Seq} x{g.Count()}").ToList();
        Assert.True(duplicates.Count == 0, $"written twice: {string.Join(", ", duplicates.Take(20))}");
        foreach (var stream in streams)
        {
            Assert.Equal(Enumerable.Range(0, (int)last).Select(i => (long)i), written.Where(o => o.Stream == stream).Select(o => o.Seq).Order());
        }
    }

    /// <summary>One chunk of each stream every 100 ms, seq from 0, through an idempotent producer that outlasts an outage.</summary>
    private sealed class FlowingInput : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private long _sent;
        private Task _producing = Task.CompletedTask;

        public required IReadOnlyList<string> Streams { get; init; }

        /// <summary>Seqs below this were handed to the producer for every stream.</summary>
        public long Sent => Interlocked.Read(ref _sent);

        public static FlowingInput Start(string bootstrap, IReadOnlyList<string> streams)
        {
            var input = new FlowingInput { Streams = streams };
            input._producing = Task.Run(() => input.ProduceAsync(bootstrap));
            return input;
        }

        public async Task<long> StopAsync()
        {
            await _stop.CancelAsync();
            await _producing.WaitAsync(Timeout);
            return Sent;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _producing.WaitAsync(Timeout).ContinueWith(_ => { });
            _stop.Dispose();
        }

        private async Task ProduceAsync(string bootstrap)
        {
            using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = bootstrap, EnableIdempotence = true, MessageTimeoutMs = 600_000 }).Build();
            for (var seq = 0L; !_stop.IsCancellationRequested; seq++)
            {
                foreach (var stream in Streams)
                {
                    producer.Produce("sample-input", SampleCodec.ToMessage(new SampleChunk(stream, seq, new double[] { seq, 0.5, -0.5 }, 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())));
                }

                Interlocked.Exchange(ref _sent, seq + 1);
                await Task.Delay(100);
            }

            Assert.Equal(0, producer.Flush(Timeout));
        }
    }

    /// <summary>sample-output as a read_committed reader sees it, from its beginning: (stream, seq) of every record.</summary>
    private sealed class CommittedOutput(string bootstrap) : IDisposable
    {
        private readonly IConsumer<byte[], byte[]> _consumer = Subscribe(bootstrap);
        private readonly List<(string Stream, long Seq)> _seen = [];

        public List<(string Stream, long Seq)> Read()
        {
            while (_consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
            {
                using var json = System.Text.Json.JsonDocument.Parse(result.Message.Value);
                _seen.Add((json.RootElement.GetProperty("stream_id").GetString()!, json.RootElement.GetProperty("seq").GetInt64()));
            }

            return [.. _seen];
        }

        public void Dispose() => _consumer.Dispose();

        private static IConsumer<byte[], byte[]> Subscribe(string bootstrap)
        {
            var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                GroupId = $"test-{Guid.NewGuid():N}",
                IsolationLevel = IsolationLevel.ReadCommitted,
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnableAutoCommit = false,
            }).Build();
            consumer.Subscribe("sample-output");
            return consumer;
        }
    }

    /// <summary>The built processor against <c>broker</c>, listening on a free port; killed when disposed.</summary>
    private sealed class RunningProcessor : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private RunningProcessor(Process process)
        {
            _process = process;
            DataReceivedEventHandler append = (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
            process.OutputDataReceived += append;
            process.ErrorDataReceived += append;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(10) };

        public string Output { get { lock (_output) { return _output.ToString(); } } }

        /// <summary>Whether the process has exited; once it has, everything it wrote has been read into <see cref="Output"/>
        /// (the exit is seen before the asynchronous readers reach the end of its output).</summary>
        public bool HasExited
        {
            get
            {
                if (!_process.HasExited)
                {
                    return false;
                }

                _process.WaitForExit();
                return true;
            }
        }

        public int ExitCode => _process.ExitCode;

        /// <summary><see cref="StartAsync"/>, then until its <c>/health</c> answers 200 (its stream thread has started).</summary>
        public static async Task<RunningProcessor> StartHealthyAsync(DevBrokerProcess broker, Dictionary<string, string> environment)
        {
            var processor = await StartAsync(broker, environment);
            try
            {
                await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.OK || processor.HasExited, Timeout,
                    () => $"/health to be healthy; output:{Environment.NewLine}{processor.Output}");
                processor.AssertRunning();
                return processor;
            }
            catch
            {
                processor.Dispose();
                throw;
            }
        }

        public static async Task<RunningProcessor> StartAsync(DevBrokerProcess broker, Dictionary<string, string> environment)
        {
            var start = ExternalProcess.Service("FilterKafkaProcessor");
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }

            var processor = new RunningProcessor(Process.Start(start) ?? throw new InvalidOperationException("The processor did not start."));
            try
            {
                Uri? address = null;
                await Poll.UntilAsync(() => (address = ListeningAddress(processor.Output)) is not null || processor.HasExited, Timeout,
                    () => $"the processor to listen; output:{Environment.NewLine}{processor.Output}");
                processor.AssertRunning();
                processor.Http.BaseAddress = address;
                return processor;
            }
            catch
            {
                processor.Dispose();
                throw;
            }
        }

        public void AssertRunning()
        {
            if (_process.HasExited)
            {
                Assert.Fail($"the processor exited ({_process.ExitCode}); output:{Environment.NewLine}{Output}");
            }
        }

        public HttpStatusCode? Status(string path) => ProcessorProcessTests.Status(Http, path);

        public DateTime TerminatedAt { get; private set; }

        public DateTime ExitTime => _process.ExitTime;

        public void Terminate()
        {
            TerminatedAt = DateTime.Now;
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
            Http.Dispose();
        }
    }

    private static Uri? ListeningAddress(string output)
        => Regex.Match(output, @"Now listening on: (http://\S+)") is { Success: true } found ? new Uri(found.Groups[1].Value) : null;

    private static HttpStatusCode? Status(HttpClient http, string path)
    {
        try
        {
            using var response = http.GetAsync(path).GetAwaiter().GetResult();
            return response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }
}
