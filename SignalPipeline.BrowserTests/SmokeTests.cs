namespace SignalPipeline.BrowserTests;

public sealed class SmokeTests
{
    [Fact]
    public void Solution_builds() => Assert.True(true);
}
