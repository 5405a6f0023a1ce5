namespace SignalPipeline.Filters;

/// <summary>
/// One algorithm's entry in the catalogue (<see cref="FilterFactory.Registrations"/>): its name, its id in state
/// snapshots, its parameters, how to create it and how to restore it. The factory, the filter API's
/// <c>GET /algorithms</c>, the gateway's routes and the AppHost's services all derive from these entries, so adding an
/// algorithm is its filter class, its registration and its tests.
/// </summary>
public sealed class FilterRegistration
{
    private readonly Func<IReadOnlyDictionary<string, double>?, IStreamFilter> _create;

    internal FilterRegistration(
        byte id,
        AlgorithmDescriptor descriptor,
        Func<IReadOnlyDictionary<string, double>?, IStreamFilter> create,
        RestoreFilter restore,
        string? service = null)
    {
        Id = id;
        Descriptor = descriptor;
        _create = create;
        Restore = restore;
        Service = service ?? $"filter-{descriptor.Name}";
    }

    /// <summary>The algorithm's name, lower case, as in URLs (<c>/kalman/audio/run</c>), settings and messages.</summary>
    public string Name => Descriptor.Name;

    /// <summary>The algorithm id written into state snapshots (docs/filters.md); never reused.</summary>
    public byte Id { get; }

    /// <summary>The parameters with their defaults and ranges.</summary>
    public AlgorithmDescriptor Descriptor { get; }

    /// <summary>
    /// The algorithm service deployment that serves it in the guide's layout: <c>filter-{name}</c>, unless the algorithm
    /// shares one (lms is served by <c>filter-ls</c>). The gateway's default destination is <c>http://{Service}</c>.
    /// </summary>
    public string Service { get; }

    /// <summary>The setting that sends this algorithm's requests elsewhere (the guide's names): <c>KALMAN_SERVICE_URL</c> etc.</summary>
    public string ServiceUrlSetting => $"{Name.ToUpperInvariant()}_SERVICE_URL";

    /// <summary>Creates the filter; unset parameters take their defaults. Throws <see cref="FilterParameterException"/>.</summary>
    public IStreamFilter Create(IReadOnlyDictionary<string, double>? parameters = null) => _create(parameters);

    /// <summary>Restores the filter from validated parameters and the state after the snapshot's parameters.</summary>
    internal RestoreFilter Restore { get; }
}

/// <summary>Rebuilds a filter from its snapshot's parameter values and sample count, reading its state from <paramref name="reader"/>.</summary>
internal delegate IStreamFilter RestoreFilter(double[] parameters, long samplesProcessed, ref StateReader reader);
