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

    [LibraryImport(Library, EntryPoint = "rd_kafka_err2str")]
    public static partial IntPtr ErrorToString(int error);

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
