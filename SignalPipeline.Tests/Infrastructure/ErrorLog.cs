using Microsoft.Extensions.Logging;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// Collects an in-process host's log entries of level <paramref name="minimum"/> (Error unless told) and above (add it
/// with <c>builder.Logging.AddProvider</c>).
/// </summary>
public sealed class ErrorLog(LogLevel minimum = LogLevel.Error) : ILoggerProvider, ILogger
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Entries.Enqueue($"{formatter(state, exception)} {exception?.Message}");
        }
    }

    public void Dispose()
    {
    }
}
