using System.Text;
using Microsoft.Win32.SafeHandles;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// The verbs' stdout when it is a pipe: .NET's <see cref="Console.Out"/> ignores EPIPE (a write to a pipe whose reader
/// has exited succeeds silently), so <c>kafka tail | head -1</c> read on for ever after <c>head</c> had gone. Written
/// through a stream of its own, such a write throws <see cref="IOException"/> and the verb stops
/// (<see cref="IsClosedPipe"/>; docs/operations.md, "Exit codes"). A terminal or a file keeps <see cref="Console.Out"/>:
/// a file's stream would write at its own position, over what stderr wrote to the same file (<c>&gt; log 2&gt;&amp;1</c>).
/// </summary>
public static class StandardOutput
{
    /// <summary>EPIPE on Linux and macOS; .NET's I/O errors carry the errno as their HResult.</summary>
    private const int BrokenPipe = 32;

    /// <summary><paramref name="configured"/>, unless it is the process's stdout and that is a pipe: then a writer that fails once the pipe's reader is gone.</summary>
    public static TextWriter For(TextWriter configured)
    {
        if (!ReferenceEquals(configured, Console.Out) || !Console.IsOutputRedirected || OperatingSystem.IsWindows())
        {
            return configured;
        }

        var stream = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
        if (stream.CanSeek)
        {
            stream.Dispose();
            return configured;
        }

        return new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { AutoFlush = true };
    }

    /// <summary>Whether <paramref name="exception"/> is a write to a pipe whose reader has gone.</summary>
    public static bool IsClosedPipe(IOException exception) => exception.HResult == BrokenPipe;
}
