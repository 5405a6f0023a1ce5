using System.Runtime.InteropServices;
using System.Text;

namespace SignalPipeline.DevBroker;

/// <summary>
/// librdkafka's mock cluster: a Kafka-protocol broker (or several) living in this process, in memory, listening on
/// 127.0.0.1 at random ports. It needs a librdkafka client handle to live in; a producer handle that never produces.
/// </summary>
public sealed partial class MockKafkaCluster : IDisposable
{
    private readonly Lock _gate = new();
    private IntPtr _client;
    private IntPtr _cluster;

    private MockKafkaCluster(IntPtr client, IntPtr cluster, string bootstrapServers, int brokerCount)
    {
        _client = client;
        _cluster = cluster;
        BootstrapServers = bootstrapServers;
        BrokerCount = brokerCount;
    }

    /// <summary>How many brokers; their ids are 1 to <see cref="BrokerCount"/>.</summary>
    public int BrokerCount { get; }

    /// <summary>The brokers' own addresses, <c>127.0.0.1:port[,...]</c>.</summary>
    public string BootstrapServers { get; }

    /// <summary>The first broker's address, where the fixed bootstrap port forwards to.</summary>
    public string FirstBroker => BootstrapServers.Split(',')[0];

    public static string LibrdkafkaVersion
    {
        get
        {
            LibrdkafkaNative.EnsureLoaded();
            return Marshal.PtrToStringUTF8(LibrdkafkaNative.VersionString()) ?? "unknown";
        }
    }

    public static MockKafkaCluster Start(int brokerCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokerCount, 1);
        LibrdkafkaNative.EnsureLoaded();

        var errorText = new byte[512];
        var conf = LibrdkafkaNative.ConfNew();
        // The host client never talks to anyone; keep it quiet.
        Set(conf, "bootstrap.servers", "");
        Set(conf, "log_level", "3");

        var client = LibrdkafkaNative.New(LibrdkafkaNative.ProducerType, conf, errorText, (UIntPtr)errorText.Length);
        if (client == IntPtr.Zero)
        {
            LibrdkafkaNative.ConfDestroy(conf);
            throw new InvalidOperationException("rd_kafka_new failed: " + Text(errorText));
        }

        var cluster = LibrdkafkaNative.MockClusterNew(client, brokerCount);
        if (cluster == IntPtr.Zero)
        {
            LibrdkafkaNative.Destroy(client);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed.");
        }

        // The mock names broker 0 as the controller by default, a broker it does not have (its ids are 1..N): an admin
        // client then waits its whole timeout for it (CreateTopics: "Failed while waiting for controller"). Broker 1 is
        // one it has; the call then fails at once, the mock having no CreateTopics (Local_UnsupportedFeature).
        LibrdkafkaNative.MockSetControllerId(cluster, 1);
        var bootstraps = Marshal.PtrToStringUTF8(LibrdkafkaNative.MockClusterBootstraps(cluster)) ?? "";
        return new MockKafkaCluster(client, cluster, bootstraps, brokerCount);

        static void Set(IntPtr conf, string name, string value)
        {
            var error = new byte[512];
            if (LibrdkafkaNative.ConfSet(conf, name, value, error, (UIntPtr)error.Length) != LibrdkafkaNative.ConfOk)
            {
                throw new InvalidOperationException($"rd_kafka_conf_set({name}) failed: {Text(error)}");
            }
        }
    }

    /// <summary>The mock broker cannot serve CreateTopics, so the host creates the pipeline's topics here.</summary>
    public void CreateTopic(string topic, int partitions, int replicationFactor = 1)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            var error = LibrdkafkaNative.MockTopicCreate(_cluster, topic, partitions, replicationFactor);
            if (error != 0)
            {
                throw new InvalidOperationException($"Could not create topic '{topic}' ({partitions} partitions): {LibrdkafkaNative.Describe(error)}");
            }
        }
    }

    /// <summary>How long a new group waits for more members before the first assignment (Kafka's default is 3 s).</summary>
    public void SetGroupInitialRebalanceDelay(TimeSpan delay)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            var error = LibrdkafkaNative.MockGroupInitialRebalanceDelayMs(_cluster, (int)delay.TotalMilliseconds);
            if (error != 0)
            {
                throw new InvalidOperationException("Could not set the group initial rebalance delay: " + LibrdkafkaNative.Describe(error));
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_cluster != IntPtr.Zero)
            {
                LibrdkafkaNative.MockClusterDestroy(_cluster);
                _cluster = IntPtr.Zero;
            }

            if (_client != IntPtr.Zero)
            {
                LibrdkafkaNative.Destroy(_client);
                _client = IntPtr.Zero;
            }
        }
    }

    private static string Text(byte[] buffer)
    {
        var end = Array.IndexOf(buffer, (byte)0);
        return Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end);
    }
}
