using System.Runtime.InteropServices;

namespace SignalPipeline.DevBroker;

/// <summary>One request a broker of the mock cluster received (whether answered with an injected error or not).</summary>
/// <param name="TimestampMicros">librdkafka's monotonic clock, in microseconds; only differences mean anything.</param>
public sealed record MockRequest(int BrokerId, KafkaApi Api, long TimestampMicros);

/// <summary>
/// Request tracking, so a test can show that a fault was seen: an injected retriable error leaves a second request of
/// the same API behind. The list grows until cleared: for tests, never left on in a long-running broker.
/// </summary>
public sealed partial class MockKafkaCluster
{
    public void StartRequestTracking() => OnCluster(LibrdkafkaNative.MockStartRequestTracking);

    public void StopRequestTracking() => OnCluster(LibrdkafkaNative.MockStopRequestTracking);

    public void ClearTrackedRequests() => OnCluster(LibrdkafkaNative.MockClearRequests);

    /// <summary>The requests received since tracking started or was last cleared, oldest first.</summary>
    public IReadOnlyList<MockRequest> TrackedRequests()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            var array = LibrdkafkaNative.MockGetRequests(_cluster, out var count);
            if (array == IntPtr.Zero)
            {
                return [];
            }

            try
            {
                var requests = new MockRequest[(int)count];
                for (var i = 0; i < requests.Length; i++)
                {
                    var request = Marshal.ReadIntPtr(array, i * IntPtr.Size);
                    requests[i] = new MockRequest(
                        LibrdkafkaNative.MockRequestBrokerId(request),
                        (KafkaApi)LibrdkafkaNative.MockRequestApiKey(request),
                        LibrdkafkaNative.MockRequestTimestamp(request));
                }

                return requests;
            }
            finally
            {
                LibrdkafkaNative.MockRequestDestroyArray(array, count);
            }
        }
    }

    /// <summary>How many requests of <paramref name="api"/> were tracked.</summary>
    public int TrackedRequestCount(KafkaApi api) => TrackedRequests().Count(r => r.Api == api);

    private void OnCluster(Action<IntPtr> call)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            call(_cluster);
        }
    }
}
