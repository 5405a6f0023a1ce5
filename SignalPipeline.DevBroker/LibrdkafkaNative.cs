using System.Reflection;
using System.Runtime.InteropServices;

namespace SignalPipeline.DevBroker;

/// <summary>
/// The part of librdkafka's C API (rdkafka.h, rdkafka_mock.h) the dev broker needs. Confluent.Kafka does not
/// expose the mock cluster, so it is called directly in the librdkafka.redist binary Confluent.Kafka ships with.
/// </summary>
internal static partial class LibrdkafkaNative
{
    private const string Library = "librdkafka";

    public const int ProducerType = 0;
    public const int ConfOk = 0;

    static LibrdkafkaNative()
        => NativeLibrary.SetDllImportResolver(typeof(LibrdkafkaNative).Assembly, Resolve);

    /// <summary>Makes sure the resolver is installed before the first call.</summary>
    public static void EnsureLoaded() => NativeLibrary.GetExport(Load(), "rd_kafka_version");

    [LibraryImport(Library, EntryPoint = "rd_kafka_version_str")]
    public static partial IntPtr VersionString();

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_new")]
    public static partial IntPtr ConfNew();

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfSet(IntPtr conf, string name, string value, byte[] errorText, UIntPtr errorTextSize);

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_destroy")]
    public static partial void ConfDestroy(IntPtr conf);

    /// <summary>Takes ownership of <paramref name="conf"/> on success.</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_new")]
    public static partial IntPtr New(int type, IntPtr conf, byte[] errorText, UIntPtr errorTextSize);

    [LibraryImport(Library, EntryPoint = "rd_kafka_destroy")]
    public static partial void Destroy(IntPtr rk);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_cluster_new")]
    public static partial IntPtr MockClusterNew(IntPtr rk, int brokerCount);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_cluster_bootstraps")]
    public static partial IntPtr MockClusterBootstraps(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_topic_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MockTopicCreate(IntPtr cluster, string topic, int partitionCount, int replicationFactor);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_group_initial_rebalance_delay_ms")]
    public static partial int MockGroupInitialRebalanceDelayMs(IntPtr cluster, int delayMs);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_cluster_destroy")]
    public static partial void MockClusterDestroy(IntPtr cluster);

    // Fault injection (rdkafka_mock.h). The variadic forms (rd_kafka_mock_push_request_errors,
    // rd_kafka_mock_partition_push_request_errors, rd_kafka_mock_broker_push_request_error_rtts) are left out:
    // a varargs call cannot be declared portably through LibraryImport.

    /// <summary>The next <paramref name="count"/> requests of <paramref name="apiKey"/>, to any broker, fail in order.</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_push_request_errors_array")]
    public static partial void MockPushRequestErrorsArray(IntPtr cluster, short apiKey, UIntPtr count, int[] errors);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_clear_request_errors")]
    public static partial void MockClearRequestErrors(IntPtr cluster, short apiKey);

    /// <summary>Closes the broker's connections and refuses new ones; its port stays reserved. -1: all brokers.</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_set_down")]
    public static partial int MockBrokerSetDown(IntPtr cluster, int brokerId);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_set_controller_id")]
    public static partial void MockSetControllerId(IntPtr cluster, int controllerId);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_set_up")]
    public static partial int MockBrokerSetUp(IntPtr cluster, int brokerId);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_set_rtt")]
    public static partial int MockBrokerSetRtt(IntPtr cluster, int brokerId, int rttMs);

    /// <summary>-1 as <paramref name="brokerId"/> makes the partition leader-less.</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_partition_set_leader", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MockPartitionSetLeader(IntPtr cluster, string topic, int partition, int brokerId);

    /// <summary>Returned in Metadata and AddPartitionsToTxn responses for the topic (only those two, per rdkafka_mock.h).</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_topic_set_error", StringMarshalling = StringMarshalling.Utf8)]
    public static partial void MockTopicSetError(IntPtr cluster, string topic, int error);

    /// <summary>Deletes the topic and its records; an unknown topic is an error.</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_topic_delete", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MockTopicDelete(IntPtr cluster, string topic);

    // Request tracking: which requests reached the brokers, so a test can tell that a client retried.

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_start_request_tracking")]
    public static partial void MockStartRequestTracking(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_stop_request_tracking")]
    public static partial void MockStopRequestTracking(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_clear_requests")]
    public static partial void MockClearRequests(IntPtr cluster);

    /// <summary>Copies of the tracked requests; free with <see cref="MockRequestDestroyArray"/>. NULL when none.</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_get_requests")]
    public static partial IntPtr MockGetRequests(IntPtr cluster, out UIntPtr count);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_destroy_array")]
    public static partial void MockRequestDestroyArray(IntPtr requests, UIntPtr count);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_id")]
    public static partial int MockRequestBrokerId(IntPtr request);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_api_key")]
    public static partial short MockRequestApiKey(IntPtr request);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_timestamp")]
    public static partial long MockRequestTimestamp(IntPtr request);

    [LibraryImport(Library, EntryPoint = "rd_kafka_err2str")]
    public static partial IntPtr ErrorToString(int error);

    /// <summary>librdkafka's name of an error: Kafka's (<c>NOT_COORDINATOR</c>) or its own local ones (<c>_TRANSPORT</c>).</summary>
    [LibraryImport(Library, EntryPoint = "rd_kafka_err2name")]
    public static partial IntPtr ErrorToName(int error);

    public static string Name(int error) => Marshal.PtrToStringUTF8(ErrorToName(error)) ?? "";

    public static string Describe(int error) => Marshal.PtrToStringUTF8(ErrorToString(error)) ?? $"error {error}";

    private static IntPtr? _handle;

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        => name == Library ? Load() : IntPtr.Zero;

    /// <summary>
    /// librdkafka.redist's generic Linux build needs libsasl2.so.3, which Debian 12 does not have; its CentOS 8 build
    /// works there (Confluent.Kafka falls back to the same file by itself).
    /// </summary>
    private static IntPtr Load()
    {
        if (_handle is { } loaded)
        {
            return loaded;
        }

        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeFolder(), "native");
        string[] candidates = OperatingSystem.IsLinux()
            ? [Path.Combine(native, "librdkafka.so"), Path.Combine(native, "centos8-librdkafka.so"), Path.Combine(native, "alpine-librdkafka.so"), "librdkafka.so.1", "librdkafka.so"]
            : OperatingSystem.IsMacOS()
                ? [Path.Combine(native, "librdkafka.dylib"), "librdkafka.dylib"]
                : [Path.Combine(native, "librdkafka.dll"), "librdkafka.dll"];

        var errors = new List<string>();
        foreach (var candidate in candidates)
        {
            try
            {
                var handle = NativeLibrary.Load(candidate);
                _handle = handle;
                return handle;
            }
            catch (Exception ex) when (ex is DllNotFoundException or BadImageFormatException)
            {
                errors.Add($"{candidate}: {ex.Message}");
            }
        }

        throw new DllNotFoundException("Could not load librdkafka (from the librdkafka.redist package):" + Environment.NewLine + string.Join(Environment.NewLine, errors));
    }

    private static string RuntimeFolder()
    {
        var os = OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "osx" : "win";
        var arch = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.Arm64 => "arm64",
            Architecture.X86 => "x86",
            _ => "x64",
        };
        return $"{os}-{arch}";
    }
}
