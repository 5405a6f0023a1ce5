using System.Globalization;
using SignalGenerator;
using SignalPipeline.Tests.AppHost;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.SignalGenerator;

/// <summary>
/// The AppHost's model (built, not started): every <c>Generator:*</c> setting given to the AppHost reaches the generator as
/// <c>Generator__X</c> (docs/messages.md, "The signal generator": "AppHost config or the service's env").
/// </summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class GeneratorAppHostSettingsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Every_generator_setting_given_to_the_AppHost_reaches_the_generator()
    {
        // Each setting of GeneratorOptions, with a value of its type (not the default, so nothing passes by chance).
        var settings = typeof(GeneratorOptions).GetProperties()
            .Where(p => p.CanWrite)
            .ToDictionary(p => p.Name, p => p.PropertyType == typeof(bool) ? "false"
                : p.PropertyType == typeof(string) ? $"value-{p.Name}"
                : p.PropertyType.IsEnum ? Enum.GetNames(p.PropertyType).Last()
                : (p.Name.Length + 7).ToString(CultureInfo.InvariantCulture));
        Assert.Contains(nameof(GeneratorOptions.DeliveryStallSeconds), settings.Keys);

        await using var builder = await TestAppHost.CreateBuilderAsync(Timeout, [.. settings.Select(s => $"Generator:{s.Key}={s.Value}")]);

        var env = await KafkaTopicsResourceTests.EnvironmentAsync(builder, "signal-generator");
        foreach (var (name, value) in settings)
        {
            Assert.True(env.GetValueOrDefault($"Generator__{name}") == value, $"Generator:{name}={value} was not passed on as Generator__{name}");
        }
    }
}
