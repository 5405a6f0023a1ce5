namespace SignalPipeline.Filters;

/// <summary>A count of quads (four-lane registers, see <see cref="IQuadWidth{TQuad}"/>) known to the JIT at compile time (a generic argument), for unrolled kernels.</summary>
internal interface IVectorCount
{
    static abstract int Count { get; }
}

internal readonly struct VectorCount1 : IVectorCount
{
    public static int Count => 1;
}

internal readonly struct VectorCount2 : IVectorCount
{
    public static int Count => 2;
}

internal readonly struct VectorCount3 : IVectorCount
{
    public static int Count => 3;
}

internal readonly struct VectorCount4 : IVectorCount
{
    public static int Count => 4;
}
