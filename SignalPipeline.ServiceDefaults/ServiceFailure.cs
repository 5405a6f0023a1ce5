using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What a service does with an exception nothing caught (a setting refused at start, a missing topic, a bug): writes its
/// reason to standard error and exits with code 1, instead of .NET's default abort (SIGABRT, exit 134, a core dump where
/// they are on, and a stack trace around the one line that names the setting).
/// </summary>
public static class ServiceFailure
{
    private static int _registered;

    /// <summary>Installs the handler once per process (<see cref="Extensions.AddServiceDefaults{TBuilder}"/> calls it).</summary>
    public static void ExitOnUnhandledException()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            {
                Console.Error.WriteLine($"crit: the service stopped: {Describe(e.ExceptionObject as Exception)}");
                Environment.Exit(1);
            };
        }
    }

    /// <summary>The message alone for a refused setting or check (it names what is wrong); everything for the rest.</summary>
    public static string Describe(Exception? exception) => exception switch
    {
        OptionsValidationException or InvalidOperationException => exception.Message,
        OperationCanceledException => "a background service failed at start (its error is logged above)",
        null => "an unknown error",
        _ => exception.ToString(),
    };
}
