using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What a service does with an exception nothing caught (a setting refused at start, a missing topic, a bug): writes its
/// reason to standard error and exits with code 1, instead of .NET's default abort (SIGABRT, exit 134, a core dump where
/// they are on, and a stack trace around the one line that names the setting).
/// </summary>
public static class ServiceFailure
{
    private static readonly ManualResetEventSlim StopSignalled = new();
    private static int _registered;
    private static readonly List<PosixSignalRegistration> Signals = []; // kept: a registration collected stops handling

    /// <summary>
    /// Installs the handler once per process (<see cref="Extensions.AddServiceDefaults{TBuilder}"/> calls it). A start
    /// cancelled because the host was asked to stop (SIGTERM, SIGINT or SIGQUIT, which the host's console lifetime
    /// stops on: a pod deleted while it waits for Kafka at start) is a stop, not a failure: it exits with
    /// <see cref="Environment.ExitCode"/> (0 unless a service set it) and an Information line.
    /// </summary>
    public static void ExitOnUnhandledException()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            if (!OperatingSystem.IsWindows())
            {
                // Not cancelled: the console lifetime's own handler still stops the host, or the runtime's default ends the process.
                Signals.AddRange(new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT }
                    .Select(signal => PosixSignalRegistration.Create(signal, _ => StopSignalled.Set())));
            }

            AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            {
                // The signal's handlers run one after another on one thread: the host's may cancel the start before ours runs.
                if (e.ExceptionObject is OperationCanceledException && StopSignalled.Wait(TimeSpan.FromSeconds(1)))
                {
                    Console.Out.WriteLine("info: the service stopped before it had finished starting: a stop signal cancelled its start");
                    Environment.Exit(Environment.ExitCode);
                }

                WriteStopped(e.ExceptionObject as Exception);
                Environment.Exit(1);
            };
        }
    }

    /// <summary>
    /// Builds the app with every <c>ValidateOnStart</c> check run (each options class's, the service defaults'
    /// <see cref="TrustedProxies"/>, the Kafka client properties') before it runs, so that a refused setting is thrown
    /// from the program itself and <see cref="ExitOnUnhandledException"/>'s one <c>crit:</c> line, naming every refused
    /// setting, is all the service prints. Left to the host, these checks run inside its <c>StartAsync</c>, which first
    /// logs a refusal as <c>Hosting failed to start</c> with its stack trace. And some options are read inside
    /// <c>Build()</c> itself: <c>WebApplication</c> asks Kestrel's server for its features, so the server is made there
    /// with <c>KestrelServerOptions</c> and <c>SocketTransportOptions</c>, and with them the options their setup reads
    /// (the processor's, the gateway's, the bridge's and the filter services' read-ahead and connection limits, the
    /// gateway's and the bridge's <see cref="TrustedProxies"/>). The first of those refused is thrown alone from
    /// <c>Build()</c>; then every check is run on a provider of its own, so the line names all the refusals, as it does
    /// for those found after <c>Build()</c>. Every service's Program.cs calls it (tests: <c>ServiceStartFailureTests</c>).
    /// </summary>
    public static WebApplication BuildCheckingSettings(this WebApplicationBuilder builder)
    {
        WebApplication app;
        try
        {
            app = builder.Build();
        }
        catch (OptionsValidationException)
        {
            // Not disposed: the service stops now, and disposing could throw over the refusals (a singleton that is only
            // IAsyncDisposable). When every check passes there, the refusal thrown from Build() is the one reported.
            builder.Services.BuildServiceProvider().GetService<IStartupValidator>()?.Validate();
            throw;
        }

        app.Services.GetService<IStartupValidator>()?.Validate();
        return app;
    }

    /// <summary>
    /// Runs the app until it stops. When one of its background services failed, the host logs it and stops, and then
    /// exits 0, as after a stop asked for; here the line <c>crit: the service stopped: </c> and the failure is written to
    /// standard error and 1 returned, so whatever started the service (a script, Compose's restart policy, the AppHost's
    /// dashboard) sees a failure. Otherwise <see cref="Environment.ExitCode"/> (0 unless a service set it).
    /// Program.cs: <c>return await app.RunReportingFailuresAsync();</c>.
    /// </summary>
    public static async Task<int> RunReportingFailuresAsync(this IHost app, CancellationToken cancellationToken = default)
    {
        // Taken before the run: the host disposes its services when it stops.
        var background = app.Services.GetServices<IHostedService>().OfType<BackgroundService>().ToArray();
        await app.RunAsync(cancellationToken);
        if (background.Select(service => service.ExecuteTask).FirstOrDefault(task => task is { IsFaulted: true }) is not { } failed)
        {
            return Environment.ExitCode;
        }

        WriteStopped(failed.Exception?.InnerException);
        return 1;
    }

    /// <summary>The one line a service stopped by a failure ends with (docs/operations.md, "Exit codes").</summary>
    private static void WriteStopped(Exception? failure) => Console.Error.WriteLine($"crit: the service stopped: {Describe(failure)}");

    /// <summary>
    /// The message alone for a refused setting or check, or a <see cref="ServiceStopException"/> (they name what is
    /// wrong and the fix), the messages joined by <c>; </c> when
    /// several options classes refused (<see cref="IStartupValidator"/> throws them together); everything for the rest.
    /// </summary>
    public static string Describe(Exception? exception) => exception switch
    {
        OptionsValidationException or ServiceStopException => exception.Message,
        InvalidOperationException => exception.Message + AllowedValues(exception.Message),
        AggregateException { InnerExceptions: var inner } when inner.All(e => e is OptionsValidationException)
            => string.Join("; ", inner.Select(e => e.Message)),
        OperationCanceledException => "a background service failed at start (its error is logged above)",
        null => "an unknown error",
        _ => exception.ToString(),
    };

    /// <summary>
    /// The values a setting takes, for the configuration binder's refusal of a value it cannot convert (<c>Failed to
    /// convert configuration value 'bogus' at 'FILTER_MODE' to type 'FilterKafkaProcessor.FilterMode'.</c>): it names the
    /// setting and the value but not what is allowed, and an enum's names are not guessable from its type's name. Empty for
    /// any other message or type (a number's range is the validators' to say, once the value is one).
    /// </summary>
    private static string AllowedValues(string message)
    {
        const string binderPrefix = "Failed to convert configuration value '";
        if (!message.StartsWith(binderPrefix, StringComparison.Ordinal) || !message.EndsWith("'.", StringComparison.Ordinal))
        {
            return "";
        }

        var typeName = message[(message.LastIndexOf(" to type '", StringComparison.Ordinal) + " to type '".Length)..^2];
        if (ValueForms.TryGetValue(typeName, out var form))
        {
            return form;
        }

        var type = AppDomain.CurrentDomain.GetAssemblies().Select(assembly => assembly.GetType(typeName)).FirstOrDefault(t => t is { IsEnum: true });
        return type is null ? "" : $" Use one of: {string.Join(", ", Enum.GetNames(type))} (any case).";
    }

    /// <summary>What the binder takes for the setting types the services use (invariant culture); the range is the validators'.</summary>
    private static readonly Dictionary<string, string> ValueForms = new()
    {
        [typeof(bool).FullName!] = " Use true or false.",
        [typeof(int).FullName!] = " Use a whole number.",
        [typeof(long).FullName!] = " Use a whole number.",
        [typeof(double).FullName!] = " Use a number (1e-4 and 0.0001 alike).",
        // TimeSpan's own parse takes a bare number as days ("2" is 2.00:00:00), which the range checks then report.
        [typeof(TimeSpan).FullName!] = " Use a time span, [d.]hh:mm:ss[.fffffff] (00:00:05 is 5 s).",
    };
}

/// <summary>
/// A condition the service cannot go on under and no retry mends (a topic deleted under it, an ACL refused), whose
/// message names what is wrong and the fix: the service's last line is that message alone, without a stack trace.
/// </summary>
public class ServiceStopException(string message) : Exception(message);
