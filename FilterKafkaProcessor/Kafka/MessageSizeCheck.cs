using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Kafka;

/// <summary>
/// The producer's <c>message.max.bytes</c> (<see cref="KafkaSupplier.MaxMessageBytes"/>) as one more options check at start
/// (<see cref="StartCheck"/>), so a value a checkpoint cannot fit stops the service in the one <c>crit: the service stopped:</c>
/// line with the other refused settings (docs/processor.md, Limits and Settings). Checked only by the stream thread as
/// it started, it stopped the host from a failed background service: exit 1, but three stack traces on stdout and
/// nothing on stderr.
/// </summary>
public static class MessageSizeCheck
{
    public static void Add(IServiceCollection services)
        => StartCheck.Add(services, nameof(MessageSizeCheck), provider => Refusal(provider.GetRequiredService<KafkaSupplier>()));

    private static string? Refusal(KafkaSupplier kafka)
    {
        try
        {
            _ = kafka.MaxMessageBytes;
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            // Not a number librdkafka takes: the Kafka client settings' own check names it.
            return null;
        }
    }
}
