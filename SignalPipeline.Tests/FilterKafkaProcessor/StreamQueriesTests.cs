using FilterKafkaProcessor.Inspection;
using FilterKafkaProcessor.Streaming;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// The bound on questions waiting for the stream thread (docs/processor.md, "The filter state on view": at most 256 wait,
/// more get 503 "Stream thread busy", as does one the thread does not answer in time).
/// </summary>
public class StreamQueriesTests
{
    private static readonly IReadOnlyDictionary<int, PartitionTask> NoTasks = new Dictionary<int, PartitionTask>();

    [Fact]
    public async Task PastMaxPendingWaitingQuestionsANewOneIsRefusedUntilTheThreadAnswers()
    {
        var queries = new StreamQueries();
        var waiting = Enumerable.Range(0, StreamQueries.MaxPending)
            .Select(i => queries.AskAsync(_ => i, TimeSpan.FromMinutes(1), CancellationToken.None))
            .ToList();

        Assert.Throws<QueriesFullException>(() => { _ = queries.AskAsync(_ => -1, TimeSpan.FromMinutes(1), CancellationToken.None); });

        queries.Answer(NoTasks);
        Assert.Equal(Enumerable.Range(0, StreamQueries.MaxPending), await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(30)));

        // Answered questions no longer count: there is room again.
        var next = queries.AskAsync(tasks => tasks.Count, TimeSpan.FromMinutes(1), CancellationToken.None);
        queries.Answer(NoTasks);
        Assert.Equal(0, await next.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task AQuestionTheThreadDoesNotAnswerInTimeFailsWithATimeout()
    {
        var queries = new StreamQueries();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // cancelled, not a TimeoutException, if the question's own timeout is lost

        await Assert.ThrowsAsync<TimeoutException>(() => queries.AskAsync(_ => 1, TimeSpan.FromMilliseconds(10), CancellationToken.None).WaitAsync(bound.Token));
    }
}
