using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// The aspire-samples XUnit logger: an <see cref="ILoggerProvider"/> that writes the AppHost's log into the output of
/// the running test, so a red AppHost test shows what the services said. Aspire's testing builder forwards every
/// resource's console output to <see cref="ILogger"/> (category <c>{AppHost}.Resources.{resource}</c>), so this one
/// provider carries the services' logs too. A fixture outlives its tests, so the test attaches itself
/// (<see cref="AppHostFixture.WithTestOutput"/>); lines written while no test is attached (the start, between tests)
/// are kept, up to <see cref="MaxPendingLines"/>, and written to the next test.
/// </summary>
public sealed partial class TestOutputLog : ILoggerProvider
{
    public const int MaxPendingLines = 2000;

    private readonly Lock _lock = new();
    private readonly Queue<string> _pending = new();
    private ITestOutputHelper? _output;
    private int _dropped;

    /// <summary>From now on lines go to <paramref name="output"/>, after those kept while no test was attached.</summary>
    public void WriteTo(ITestOutputHelper output)
    {
        lock (_lock)
        {
            _output = output;
            var pending = _pending.ToList();
            _pending.Clear();
            if (_dropped > 0)
            {
                pending.Insert(0, $"[test log] {_dropped} earlier lines dropped (more than {MaxPendingLines} while no test was running)");
                _dropped = 0;
            }

            foreach (var line in pending)
            {
                Write(line);
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, ShortName(categoryName));

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        lock (_lock)
        {
            Write(line);
        }
    }

    private void Write(string line)
    {
        if (_output is not null)
        {
            try
            {
                _output.WriteLine(line);
                return;
            }
            catch (InvalidOperationException)
            {
                // xunit refuses output for a test that has finished: keep the line for the next one.
                _output = null;
            }
        }

        _pending.Enqueue(line);
        if (_pending.Count > MaxPendingLines)
        {
            _pending.Dequeue();
            _dropped++;
        }
    }

    /// <summary><c>SignalPipeline.AppHost.Resources.filter-kafka-processor</c> becomes <c>filter-kafka-processor</c>.</summary>
    private static string ShortName(string category)
    {
        const string marker = ".Resources.";
        var at = category.IndexOf(marker, StringComparison.Ordinal);
        return at >= 0 ? category[(at + marker.Length)..] : category;
    }

    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex AnsiEscape();

    private sealed class Logger(TestOutputLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var level = logLevel is LogLevel.Error or LogLevel.Critical or LogLevel.Warning ? $" {logLevel}" : "";
            // The services colour their console; the colour codes are noise in a test report.
            var line = $"{DateTime.UtcNow:HH:mm:ss.fff} [{category}]{level} {AnsiEscape().Replace(formatter(state, exception), "")}";
            log.Add(exception is null ? line : line + Environment.NewLine + exception);
        }
    }
}
