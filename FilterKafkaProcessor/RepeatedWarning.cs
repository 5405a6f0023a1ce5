namespace FilterKafkaProcessor;

/// <summary>
/// Which occurrences of a warning that records from outside can repeat at will (a bad record in a topic whoever may write
/// it fills) are logged: the 1st, 10th, 100th, ... Each occurrence is counted in a metric and the line logged says how
/// many so far, so a writer of bad records cannot fill the log, and the count still shows how far it went.
/// </summary>
public static class RepeatedWarning
{
    /// <summary>True for the 1st, 10th, 100th, ... occurrence (<paramref name="occurrence"/> counts from 1).</summary>
    public static bool IsLogged(long occurrence)
    {
        while (occurrence >= 10 && occurrence % 10 == 0)
        {
            occurrence /= 10;
        }

        return occurrence == 1;
    }
}
