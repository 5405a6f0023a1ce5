using Microsoft.Extensions.Options;

namespace FilterKafkaProcessor.Kafka;

/// <summary>
/// The producer's <c>message.max.bytes</c> (<see cref="KafkaSupplier.MaxMessageBytes"/>) as one more options check at start
/// (<c>ValidateOnStart</c>), so a value a checkpoint cannot fit stops the service in the one <c>crit: the service stopped:</c>
/// line with the other refused settings (docs/processor.md, Limits and Settings). Checked only by the stream thread as
/// it started, it stopped the host from a failed background service: exit 1, but three stack traces on stdout and
/// nothing on stderr.
/// </summary>
public sealed class MessageSizeCheck
{
    public static void Add(IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<MessageSizeCheck>, Validator>();
        services.AddOptions<MessageSizeCheck>().ValidateOnStart();
    }

    private sealed class Validator(KafkaSupplier kafka) : IValidateOptions<MessageSizeCheck>
    {
        public ValidateOptionsResult Validate(string? name, MessageSizeCheck options)
        {
            try
            {
                _ = kafka.MaxMessageBytes;
                return ValidateOptionsResult.Success;
            }
            catch (InvalidOperationException e)
            {
                return ValidateOptionsResult.Fail(e.Message);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
            {
                // Not a number librdkafka takes: the Kafka client settings' own check names it.
                return ValidateOptionsResult.Success;
            }
        }
    }
}
