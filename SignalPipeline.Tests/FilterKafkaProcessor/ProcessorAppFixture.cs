using System.Diagnostics;
using Aspire.Hosting;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The AppHost with the generator off (the tests produce their own streams) and a small chunk limit for the DLQ test.</summary>
public class ProcessorAppFixture : AppHostFixture
{
    public const string Processor = "filter-kafka-processor";
    public const int MaxChunkSamples = 4096;

    protected override string[] AppHostArgs =>
    [
        "Generator:Enabled=false",
        $"FilterKafkaProcessor:Processor:MaxChunkSamples={MaxChunkSamples}",
        "FilterKafkaProcessor:Processor:RateLogSeconds=5",
        .. ExtraArgs,
    ];

    protected virtual string[] ExtraArgs => [];

    /// <summary>The process ids of the processor's running replicas, from the resources' snapshots.</summary>
    public async Task<Dictionary<string, int>> ProcessorPidsAsync(int replicas, TimeSpan timeout)
    {
        var pids = new Dictionary<string, int>();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var update in App.ResourceNotifications.WatchAsync(cancel.Token))
            {
                if (update.Resource.Name != Processor)
                {
                    continue;
                }

                var pid = update.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value;
                if (update.Snapshot.State?.Text == "Running" && pid is not null && int.TryParse(pid.ToString(), out var id) && id > 0)
                {
                    pids[update.ResourceId] = id;
                }
                else
                {
                    pids.Remove(update.ResourceId);
                }

                if (pids.Count >= replicas)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return pids;
    }

    /// <summary>SIGKILL to the replica's process and everything it started (a launcher may sit between DCP and the app).</summary>
    public static void KillProcessTree(int pid)
    {
        using var process = Process.GetProcessById(pid);
        process.Kill(entireProcessTree: true);
        process.WaitForExit(TimeSpan.FromSeconds(30));
    }
}
