using Microsoft.AspNetCore.Http.Features;

namespace FilterService;

/// <summary>A request body read whole into a pooled array (the JSON reader and the binary path both need it contiguous).</summary>
public sealed class RequestBody : IDisposable
{
    private byte[] _buffer;
    private BodyBudget? _budget;

    private RequestBody(byte[] buffer, int length, BodyBudget? budget)
    {
        _buffer = buffer;
        Length = length;
        _budget = budget;
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    /// <summary>
    /// How much of an oversized body is still read (and discarded) before answering 413: a server that answers and
    /// closes while the client is still sending makes the client's TCP stack see a reset, and it may lose the answer.
    /// </summary>
    private const long DrainBytes = 1024 * 1024;

    /// <summary>A body read ahead of its slot (<see cref="RequestAdmission"/>) starts in a buffer this large and doubles as bytes arrive.</summary>
    private const int FirstBudgetedBytes = 16 * 1024;

    /// <summary>
    /// The body of the request: the one <see cref="RequestAdmission"/> read ahead of the slot (handed over: the caller
    /// disposes it), or read now.
    /// </summary>
    public static Task<RequestBody> TakeAsync(HttpContext context, long maxBytes, CancellationToken cancellationToken)
    {
        if (context.Features.Get<RequestBody>() is { } read)
        {
            context.Features.Set<RequestBody>(null);
            return Task.FromResult(read);
        }

        return ReadAsync(context.Request, maxBytes, cancellationToken);
    }

    /// <summary>
    /// Reads the body, refusing more than <paramref name="maxBytes"/> (<see cref="FilterServiceOptions.MaxRequestBodyBytes"/>)
    /// with 413. Kestrel's own limit for this request is raised by <see cref="DrainBytes"/> so that a moderately
    /// oversized body is read to its end first and the client reliably gets the 413 answer. With a
    /// <paramref name="budget"/>, the buffer grows as bytes arrive (a slow client holds what it sent, not what it
    /// declared) and every buffer is taken from the budget until <see cref="ReleaseBudget"/> or disposal; a buffer the
    /// budget cannot take is a <see cref="BodyBudgetExhaustedException"/>.
    /// </summary>
    public static async Task<RequestBody> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken, BodyBudget? budget = null)
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

        // The declared length and one byte more, so that the read of the end finds room: one read, no copy. A budgeted
        // read stops at the declared length instead (Kestrel ends the body there), so its last buffer is not doubled
        // for one byte.
        var whole = (int)Math.Clamp(request.ContentLength ?? 0, 4096, Array.MaxLength) + (budget is null ? 1 : 0);
        var buffer = Rent(budget is null ? whole : Math.Min(whole, FirstBudgetedBytes), budget);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = Rent(budget is null || request.ContentLength is null ? buffer.Length * 2 : Math.Min(buffer.Length * 2, whole), budget);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    Return(buffer, budget);
                    buffer = larger;
                }

                var read = length == request.ContentLength && budget is not null
                    ? 0
                    : await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    return new RequestBody(buffer, length, budget);
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
            Return(buffer, budget);
            throw FilterRequestException.BadRequest($"The request body could not be read to its end: {ex.Message}");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status408RequestTimeout)
        {
            // Kestrel's MinRequestBodyDataRate, or the large lane's own (RequestAdmission): the client's, not a server error.
            Return(buffer, budget);
            throw BodyTooSlow(request.HttpContext.Features.Get<LargeBodyRate>()?.Refusal(request.ContentLength)
                ?? $"The request body arrived too slowly: {ex.Message}");
        }
        catch
        {
            Return(buffer, budget);
            throw;
        }
    }

    /// <summary>408 for a body that did not arrive in time (Kestrel's minimum data rate, or the admission's deadline).</summary>
    public static FilterRequestException BodyTooSlow(string detail)
        => new(StatusCodes.Status408RequestTimeout, "Request body too slow", detail, "body_timeout");

    private static byte[] Rent(int length, BodyBudget? budget)
    {
        // The budget counts the array the pool hands out, which may be longer than asked.
        var buffer = RequestArrays.Rent<byte>(length);
        if (budget is not null && !budget.TryTake(buffer.Length))
        {
            RequestArrays.Return(buffer);
            throw new BodyBudgetExhaustedException(budget);
        }

        return buffer;
    }

    private static void Return(byte[] buffer, BodyBudget? budget)
    {
        budget?.Give(buffer.Length);
        RequestArrays.Return(buffer);
    }

    /// <summary>The body's request got its slot: its buffer no longer counts against the budget of bodies read ahead.</summary>
    public void ReleaseBudget() => Interlocked.Exchange(ref _budget, null)?.Give(_buffer.Length);

    private static FilterRequestException TooLarge(string detail)
        => new(StatusCodes.Status413PayloadTooLarge, "Request body too large", detail, "body_bytes");

    public void Dispose()
    {
        ReleaseBudget();
        if (_buffer.Length > 0)
        {
            RequestArrays.Return(_buffer);
            _buffer = [];
        }
    }
}
