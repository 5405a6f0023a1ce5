using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.EventEmitters;
using YamlDotNet.Serialization.NamingConventions;

namespace SignalPipeline.Cli.Compose;

/// <summary>YAML for <see cref="ComposeFile"/>: lower-case keys, nulls and empty collections left out, scripts as literal blocks.</summary>
public static class ComposeYaml
{
    // Quoting first (the library asks for it), YAML 1.1 included: docker-compose v1 reads with PyYAML, where a plain
    // `no` is false and `8000:8000` a base-60 number.
    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithQuotingNecessaryStrings(quoteYaml1_1Strings: true)
        .WithNamingConvention(LowerCaseNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull | DefaultValuesHandling.OmitEmptyCollections)
        .WithEventEmitter(next => new LiteralMultilineEmitter(next))
        .DisableAliases()
        .Build();

    public static string Serialize(ComposeFile file) => Serializer.Serialize(file);

    /// <summary>A multi-line string (the topics script) is written as a readable <c>|</c> block instead of an escaped line.</summary>
    private sealed class LiteralMultilineEmitter(IEventEmitter next) : ChainedEventEmitter(next)
    {
        public override void Emit(ScalarEventInfo eventInfo, IEmitter emitter)
        {
            if (eventInfo.Source.Value is string text && text.Contains('\n', StringComparison.Ordinal))
            {
                eventInfo.Style = ScalarStyle.Literal;
            }

            base.Emit(eventInfo, emitter);
        }
    }
}
