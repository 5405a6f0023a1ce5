namespace SignalPipeline.Tests.Infrastructure;

/// <summary>Waiting for a condition without assuming how long it takes.</summary>
public static class Poll
{
    /// <summary>Polls <paramref name="condition"/> until true; fails with <paramref name="what"/> at the timeout.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0} s waiting for: {what()}");
            }

            await Task.Delay(100);
        }
    }
}
