using Xunit.Sdk;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// docs/testing.md, "Waiting": <see cref="Poll.UntilAsync"/> waits for its condition and fails with a message that says
/// what was awaited, so a red test names what never happened.
/// </summary>
public sealed class PollTests
{
    [Fact]
    public async Task A_condition_that_never_holds_fails_naming_what_was_awaited()
    {
        var failure = await Assert.ThrowsAsync<FailException>(
            () => Poll.UntilAsync(() => false, TimeSpan.FromMilliseconds(200), () => "the probe chunk of stream s-7"));

        Assert.Contains("waiting for: the probe chunk of stream s-7", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_condition_that_comes_to_hold_ends_the_wait_without_failing()
    {
        var asked = 0;

        await Poll.UntilAsync(() => ++asked >= 3, TimeSpan.FromMinutes(1), () => "the third look").WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(3, asked);
    }
}
