using Microsoft.AspNetCore.Http.Features;

namespace FilterService;

/// <summary>A request body read whole into a pooled array (the JSON reader and the binary path both need it contiguous).</summary>
public sealed class RequestBody : IDisposable
{
    private byte[] _buffer;

    private RequestBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    /// <summary>
    /// How much of an oversized body is still read (and discarded) before answering 413: a server that answers and
    /// closes while the client is still sending makes the client's TCP stack see a reset, and it may lose the answer.
    /// </summary>
    private const long DrainBytes = 1024 * 1024;

    /// <summary>
    /// Reads the body, refusing more than <paramref name="maxBytes"/> (<see cref="FilterServiceOptions.MaxRequestBodyBytes"/>)
    /// with 413. Kestrel's own limit for this request is raised by <see cref="DrainBytes"/> so that a moderately
    /// oversized body is read to its end first and the client reliably gets the 413 answer.
    /// </summary>
    public static async Task<RequestBody> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeLimit)
        {
            sizeLimit.MaxRequestBodySize = maxBytes + DrainBytes;
        }

        if (request.ContentLength > maxBytes)
        {
            if (request.ContentLength <= maxBytes + DrainBytes)
            {
                await request.DrainAsync(cancellationToken);
            }

            throw TooLarge($"The request body is {request.ContentLength} bytes; the limit (FilterService:MaxRequestBodyBytes) is {maxBytes} bytes.");
        }

        var buffer = RequestArrays.Rent<byte>((int)Math.Clamp(request.ContentLength ?? 0, 4096, Array.MaxLength) + 1);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = RequestArrays.Rent<byte>(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    RequestArrays.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    return new RequestBody(buffer, length);
                }

                length += read;
                if (length > maxBytes)
                {
                    await request.DrainAsync(cancellationToken);
                    throw TooLarge($"The request body exceeds the limit (FilterService:MaxRequestBodyBytes) of {maxBytes} bytes.");
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status400BadRequest)
        {
            // Typically a client that gave up in the middle of its upload: a 400 nobody may read, not a server error.
            RequestArrays.Return(buffer);
            throw FilterRequestException.BadRequest($"The request body could not be read to its end: {ex.Message}");
        }
        catch
        {
            RequestArrays.Return(buffer);
            throw;
        }
    }

    private static FilterRequestException TooLarge(string detail)
        => new(StatusCodes.Status413PayloadTooLarge, "Request body too large", detail, "body_bytes");

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            RequestArrays.Return(_buffer);
            _buffer = [];
        }
    }
}
