namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// The trait <c>Category</c> sorts the tests into three kinds. A class without it is a unit test: in process, no broker,
/// no other program, so <c>scripts/test.sh --fast</c> (<c>--filter "Category!=AppHost&amp;Category!=Integration"</c>)
/// runs them alone as the quick loop. Class level: <c>[Trait("Category", TestCategory.AppHost)]</c>.
/// </summary>
public static class TestCategory
{
    /// <summary>Starts the AppHost (<see cref="AppHostFixture"/>) or builds its model: seconds per app.</summary>
    public const string AppHost = "AppHost";

    /// <summary>A Kafka broker (librdkafka's mock cluster, the dev broker process) or another program (kubectl, docker-compose, a shell script).</summary>
    public const string Integration = "Integration";
}
