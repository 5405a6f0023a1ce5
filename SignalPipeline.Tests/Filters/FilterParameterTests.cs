using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

public sealed class FilterParameterTests
{
    [Fact]
    public void Lists_the_four_algorithms_with_their_parameters()
    {
        var algorithms = FilterFactory.Algorithms.ToDictionary(a => a.Name, a => a.Parameters.Select(p => (p.Name, p.Default)).ToArray());
        Assert.Equal(["kalman", "lms", "ls", "rls"], algorithms.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([("q", 1e-5), ("r", 0.01), ("x0", 0.0), ("p0", 1.0)], algorithms["kalman"]);
        Assert.Equal([("order", 8.0), ("lambda", 0.99), ("delta", 0.01)], algorithms["rls"]);
        Assert.Equal([("order", 16.0), ("mu", 0.1), ("eps", 1e-6)], algorithms["lms"]);
        Assert.Equal([("window", 31.0), ("degree", 2.0)], algorithms["ls"]);
    }

    [Theory]
    [InlineData("KALMAN", "kalman")]
    [InlineData("Rls", "rls")]
    [InlineData("lMs", "lms")]
    [InlineData("LS", "ls")]
    public void Algorithm_names_are_case_insensitive_and_reported_lower_case(string name, string expected)
    {
        Assert.Equal(expected, FilterFactory.Create(name).Algorithm);
    }

    [Fact]
    public void Unknown_algorithm_is_rejected()
    {
        var e = Assert.Throws<UnknownAlgorithmException>(() => FilterFactory.Create("wiener"));
        Assert.Equal("wiener", e.Algorithm);
        Assert.Contains("kalman", e.Message);
    }

    [Fact]
    public void Unknown_parameter_is_rejected_by_name()
    {
        var e = Assert.Throws<FilterParameterException>(() => FilterFactory.Create("kalman", new Dictionary<string, double> { ["gain"] = 1 }));
        Assert.Equal("gain", e.ParamName);
        Assert.Equal("Unknown parameter 'gain' for algorithm 'kalman'. Known: q, r, x0, p0.", e.Message);
    }

    [Fact]
    public void Parameter_names_are_case_insensitive()
    {
        var filter = (RlsFilter)FilterFactory.Create("rls", new Dictionary<string, double> { ["ORDER"] = 4, ["Lambda"] = 0.5 });
        Assert.Equal(new RlsParameters(4, 0.5, 0.01), filter.Parameters);
    }

    [Fact]
    public void Message_names_the_parameter_and_its_range()
    {
        var e = Assert.Throws<FilterParameterException>(() => FilterFactory.Create("rls", new Dictionary<string, double> { ["lambda"] = 1.5 }));
        Assert.Equal("Parameter 'lambda' must be in (0, 1]; got 1.5.", e.Message);
        Assert.Equal("lambda", e.ParamName);
    }

    // Every parameter: values just outside its range (and non-finite, and non-integer for counts) are rejected,
    // the bounds themselves accepted where inclusive.
    [Theory]
    [InlineData("kalman", "q", new[] { 0.0, -1 }, new[] { 1e-300, 1e6 })]
    [InlineData("kalman", "r", new[] { 0.0, -1 }, new[] { 1e-300, 1e6 })]
    [InlineData("kalman", "x0", new double[0], new[] { -1e300, 0, 1e300 })]
    [InlineData("kalman", "p0", new[] { -1e-300, -1 }, new[] { 0.0, 1e6 })]
    [InlineData("rls", "order", new[] { 0.0, 65, 2.5 }, new[] { 1.0, 64 })]
    [InlineData("rls", "lambda", new[] { 0.0, 1.0000001, -0.5 }, new[] { 1e-9, 1 })]
    [InlineData("rls", "delta", new[] { 0.0, -1 }, new[] { 1e-9, 1e9 })]
    [InlineData("lms", "order", new[] { 0.0, 257, 3.5 }, new[] { 1.0, 256 })]
    [InlineData("lms", "mu", new[] { 0.0, 2, -1 }, new[] { 1e-9, 1.999 })]
    [InlineData("lms", "eps", new[] { 0.0, -1 }, new[] { 1e-300, 10 })]
    [InlineData("ls", "window", new[] { 1.0, 1026, 30.5 }, new[] { 11.0, 1025 })]
    [InlineData("ls", "degree", new[] { -1.0, 11, 1.5 }, new[] { 0.0, 10 })]
    public void Every_parameter_range_is_validated(string algorithm, string parameter, double[] rejected, double[] accepted)
    {
        foreach (var value in rejected.Concat([double.NaN, double.PositiveInfinity, double.NegativeInfinity]))
        {
            var e = Assert.Throws<FilterParameterException>(() => FilterFactory.Create(algorithm, new Dictionary<string, double> { [parameter] = value }));
            Assert.Equal(parameter, e.ParamName);
            Assert.StartsWith($"Parameter '{parameter}' must be ", e.Message);
        }

        foreach (var value in accepted)
        {
            var extra = parameter == "degree" ? new Dictionary<string, double> { ["window"] = 11 } : [];
            extra[parameter] = value;
            var filter = FilterFactory.Create(algorithm, extra);
            filter.Process([1, 2, 3], new double[3]);
        }
    }

    [Fact]
    public void Degree_must_be_below_the_window()
    {
        var e = Assert.Throws<FilterParameterException>(() => FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 5, ["degree"] = 5 }));
        Assert.Equal("degree", e.ParamName);
        Assert.Contains("[0, 4] for window 5", e.Message);
    }

    [Fact]
    public void Range_descriptions_read_naturally()
    {
        var kalman = FilterFactory.Algorithms.Single(a => a.Name == "kalman").Parameters;
        var e = Assert.Throws<FilterParameterException>(() => FilterFactory.Create("kalman", new Dictionary<string, double> { ["q"] = -1 }));
        Assert.Equal("Parameter 'q' must be a finite number > 0; got -1.", e.Message);
        Assert.True(kalman[0].MinExclusive);
        var order = Assert.Throws<FilterParameterException>(() => FilterFactory.Create("lms", new Dictionary<string, double> { ["order"] = 300 }));
        Assert.Equal("Parameter 'order' must be an integer in [1, 256]; got 300.", order.Message);
    }

    [Theory]
    [MemberData(nameof(FilterStateTests.Algorithms), MemberType = typeof(FilterStateTests))]
    public void Mismatched_output_length_is_a_plain_argument_exception_with_its_suffix(string algorithm)
    {
        // docs/filters.md: a caller's bug, not one of the three filter exceptions, so ArgumentException's suffix stays.
        var e = Assert.Throws<ArgumentException>(() => FilterFactory.Create(algorithm).Process(new double[3], new double[2]));
        Assert.Equal("Output length 2 differs from input length 3. (Parameter 'output')", e.Message);
    }

    [Theory]
    [InlineData(" Kalman ")]
    [InlineData("\tKALMAN\n")]
    public void An_algorithm_name_is_trimmed_and_case_insensitive(string name)
    {
        var filter = FilterFactory.Create(name, new Dictionary<string, double> { ["Q"] = 0.5 });
        Assert.IsType<KalmanFilter>(filter);
        Assert.Equal("kalman", filter.Algorithm);
        Assert.Equal(0.5, ((KalmanFilter)filter).Parameters.Q);
        Assert.Equal("kalman", FilterFactory.Restore(filter.SaveState(), name).Algorithm);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(-1)]
    public void Restore_with_an_unknown_expected_algorithm_refuses_it_before_reading_a_byte(int length)
    {
        // Empty, too short to be a state, and a valid kalman state: the name is refused, never the bytes.
        var bytes = length < 0 ? FilterFactory.Create("kalman").SaveState() : new byte[length];
        var e = Assert.Throws<UnknownAlgorithmException>(() => FilterFactory.Restore(bytes, "wiener"));
        Assert.Equal("Unknown filter algorithm 'wiener'. Known: kalman, rls, ls, lms.", e.Message);
        Assert.Equal("wiener", e.Algorithm);
    }

    [Fact]
    public void The_three_filter_exceptions_are_argument_exceptions_whose_message_has_no_parameter_suffix()
    {
        // docs/filters.md: the Message goes into a problem response as it is; ParamName still says what was wrong.
        var unknown = Assert.Throws<UnknownAlgorithmException>(() => FilterFactory.Create("wiener"));
        var parameter = Assert.Throws<FilterParameterException>(() => FilterFactory.Create("rls", new Dictionary<string, double> { ["lambda"] = 1.5 }));
        var state = Assert.Throws<InvalidFilterStateException>(() => FilterFactory.Restore([1, 2, 3]));
        Assert.Equal(
            [
                ("algorithm", "Unknown filter algorithm 'wiener'. Known: kalman, rls, ls, lms."),
                ("lambda", "Parameter 'lambda' must be in (0, 1]; got 1.5."),
                ("state", "Filter state is 3 bytes; a valid state has at least 20."),
            ],
            new ArgumentException[] { unknown, parameter, state }.Select(e => (e.ParamName, e.Message)));
    }
}
