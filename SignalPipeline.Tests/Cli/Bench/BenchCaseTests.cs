using SignalPipeline.Cli.Bench;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// The pipeline cases <c>signal-pipeline bench</c> measures, as docs/benchmarks.md lists them ("Cost per record": the
/// records cases, what --quick and --case keep, the Python peer skipped without python3-confluent-kafka; the bridge with
/// no clients and 200): the case list is pure, so these run without a broker.
/// </summary>
public sealed class BenchCaseTests
{
    private static readonly string[] Records = ["records"];

    [Fact]
    public void The_records_scenario_runs_the_nine_documented_cases()
    {
        var cases = BenchRunner.Cases(Records, quick: false, pythonReady: true, only: null);

        Assert.Equal(
            new[]
            {
                "pass-through, binary f64, 64 samples", "kalman, binary f64, 64 samples",
                "pass-through, binary f64, 256 samples", "kalman, binary f64, 256 samples",
                "pass-through, binary f64, 4096 samples", "kalman, binary f64, 4096 samples",
                "pass-through, JSON, 256 samples", "kalman, JSON, 256 samples",
                "Python peer: kalman, JSON, 256 samples",
            },
            cases.Select(c => c.Label));
        Assert.All(cases, c => Assert.Equal(c.Label.StartsWith("pass-through", StringComparison.Ordinal) ? PipelineWorker.Passthrough
            : c.Label.StartsWith("Python", StringComparison.Ordinal) ? PipelineWorker.PythonPeer : PipelineWorker.Processor, c.Worker));
        Assert.All(cases, c => Assert.Equal(c.Label.Contains("JSON", StringComparison.Ordinal) ? SampleFormat.Json : SampleFormat.Float64, c.Format));
    }

    [Fact]
    public void Quick_keeps_the_records_cases_at_256_samples_and_leaves_out_the_JSON_processor_cases()
    {
        var records = BenchRunner.Cases(Records, quick: true, pythonReady: true, only: null);
        Assert.Equal(
            new[] { "pass-through, binary f64, 256 samples", "kalman, binary f64, 256 samples", "Python peer: kalman, JSON, 256 samples" },
            records.Select(c => c.Label));
        Assert.All(records, c => Assert.Equal(256, c.ChunkSamples));

        var local = BenchRunner.Cases(["local"], quick: true, pythonReady: true, only: null);
        Assert.Equal(new[] { "kalman, binary f64", "lms(16), binary f64" }, local.Select(c => c.Label));
        Assert.Contains("kalman, JSON", BenchRunner.Cases(["local"], quick: false, pythonReady: true, only: null).Select(c => c.Label));
    }

    [Fact]
    public void Without_python3_confluent_kafka_the_Python_peer_case_is_skipped_and_the_rest_run()
    {
        var cases = BenchRunner.Cases(Records, quick: false, pythonReady: false, only: null);

        Assert.DoesNotContain(cases, c => c.Worker == PipelineWorker.PythonPeer);
        Assert.Equal(8, cases.Count);
    }

    [Fact]
    public void A_case_filter_that_matches_only_the_Python_peer_is_refused_where_the_peer_cannot_run_and_Python_is_asked_only_then()
    {
        var asked = 0;
        Assert.Equal(
            "error: --case 'python' matches only the Python peer's case, which cannot run here: /usr/bin/python3 cannot import confluent_kafka (apt-get install python3-confluent-kafka).",
            BenchCommand.CaseProblem(Records, quick: false, "python", () => { asked++; return false; }));
        Assert.Equal(1, asked);
        Assert.Null(BenchCommand.CaseProblem(Records, quick: false, "python", () => true));

        // A filter that matches other cases too runs them whatever Python can do: Python is not started to find out.
        Assert.Null(BenchCommand.CaseProblem(Records, quick: false, "JSON, 256", () => { asked++; return false; }));
        Assert.Equal(1, asked);
        Assert.StartsWith("error: --case 'pyhton' matches no case of records. Cases: ", BenchCommand.CaseProblem(Records, quick: false, "pyhton", () => true));
    }

    [Fact]
    public void Case_keeps_the_cases_whose_label_contains_its_text_whatever_the_case_of_the_letters()
    {
        var cases = BenchRunner.Cases(BenchCommand.PipelineScenarios, quick: false, pythonReady: true, only: "BINARY F64, 256");

        Assert.Equal(new[] { "pass-through, binary f64, 256 samples", "kalman, binary f64, 256 samples" }, cases.Select(c => c.Label));
    }

    [Fact]
    public void Every_pipeline_scenario_gives_its_documented_setups()
    {
        var cases = BenchRunner.Cases(BenchCommand.PipelineScenarios, quick: false, pythonReady: true, only: null);

        var remote = Assert.Single(cases, c => c.Scenario == "remote");
        Assert.True(remote.Remote);
        Assert.Equal(2, Assert.Single(cases, c => c.Scenario == "scaled").Processors);
        Assert.Equal(new[] { 0, 200 }, cases.Where(c => c.Scenario == "bridge").Select(c => c.BridgeClients ?? -1));
        Assert.All(cases.Where(c => c.Scenario != "records"), c => Assert.Equal(4096, c.ChunkSamples));
        Assert.DoesNotContain(cases, c => c.Scenario == "http"); // HTTP load, not a pipeline case
    }

    [Fact]
    public void The_processor_gets_the_dev_broker_compensation_only_with_the_dev_broker_and_a_processor_env_setting_wins()
    {
        var kalman = BenchRunner.Cases(Records, quick: false, pythonReady: false, only: "kalman, binary f64, 256").Single();

        var dev = BenchRunner.ProcessorEnvironment(kalman, "127.0.0.1:39092", brokers: null, processorOverrides: null);
        Assert.Equal("true", dev["Processor__DevBrokerCompensation"]);
        Assert.Equal("127.0.0.1:39092", dev["KAFKA_BROKERS"]);
        Assert.Equal("kalman", dev["FILTER_ALGORITHM"]);
        Assert.Equal("local", dev["FILTER_MODE"]);

        // A --brokers cluster hides aborted records itself (docs/processor.md): no output scan at each assignment.
        var cluster = BenchRunner.ProcessorEnvironment(kalman, "kafka:9092", brokers: "kafka:9092", processorOverrides: null);
        Assert.False(cluster.ContainsKey("Processor__DevBrokerCompensation"));

        var overridden = BenchRunner.ProcessorEnvironment(kalman, "kafka:9092", brokers: "kafka:9092",
            new Dictionary<string, string> { ["Processor__DevBrokerCompensation"] = "true", ["FILTER_MODE"] = "remote" });
        Assert.Equal("true", overridden["Processor__DevBrokerCompensation"]);
        Assert.Equal("remote", overridden["FILTER_MODE"]);
    }

    [Fact]
    public void The_state_and_mixed_processors_get_the_processor_env_settings_and_those_win()
    {
        // Until 2026-12-06 only the pipeline cases' processors got --processor-env: a state or mixed run "with" a setting
        // ran with the defaults, and docs/benchmarks.md compared such runs as if the setting had been applied.
        var settings = new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0", ["Processor__MaxStreams"] = "5" };

        var state = StateBench.ProcessorEnvironment("127.0.0.1:39092", "rls", streams: 100_000, brokers: null, settings);
        Assert.Equal("0", state["DOTNET_GCgen0size"]);
        Assert.Equal("5", state["Processor__MaxStreams"]); // wins over the scenario's own 2 x streams
        Assert.Equal("rls", state["FILTER_ALGORITHM"]);
        Assert.Equal("true", state["Processor__DevBrokerCompensation"]);
        Assert.Equal("200000", StateBench.ProcessorEnvironment("127.0.0.1:39092", "rls", 100_000, null, processorOverrides: null)["Processor__MaxStreams"]);

        var mixed = MixedBench.ProcessorEnvironment("kafka:9092", brokers: "kafka:9092", settings);
        Assert.Equal("0", mixed["DOTNET_GCgen0size"]);
        Assert.Equal("5", mixed["Processor__MaxStreams"]);
        Assert.Equal("kafka:9092", mixed["KAFKA_BROKERS"]);
        Assert.False(mixed.ContainsKey("Processor__DevBrokerCompensation"));
    }
}
