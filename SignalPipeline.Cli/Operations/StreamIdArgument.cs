using System.Text;

namespace SignalPipeline.Cli.Operations;

/// <summary>A stream id given on the command line, checked as the codec takes one (docs/messages.md).</summary>
public static class StreamIdArgument
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The id's length in UTF-8 bytes; a lone surrogate is refused (<see cref="UsageException"/>, naming
    /// <paramref name="subject"/>): encoded, it would become U+FFFD, a stream id other than the one given.
    /// </summary>
    public static int Utf8Bytes(string streamId, string subject)
    {
        try
        {
            return Strict.GetByteCount(streamId);
        }
        catch (EncoderFallbackException)
        {
            throw new UsageException($"{subject} is not valid Unicode (a lone surrogate): no stream can have it.");
        }
    }
}
