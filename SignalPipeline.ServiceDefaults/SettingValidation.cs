using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// A whole-number setting's allowed range, checked by data annotations (or the options validation source generator) at
/// start. The message names the setting as it is configured (the property's <see cref="ConfigurationKeyNameAttribute"/>,
/// e.g. <c>Processor:LingerMs</c>, else the member name) with the value and the range:
/// <c>Processor:LingerMs = -1 is out of range [0, 60000].</c>
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingRangeAttribute(long minimum, long maximum) : ValidationAttribute
{
    public long Minimum { get; } = minimum;

    public long Maximum { get; } = maximum;

    protected override ValidationResult? IsValid(object? value, ValidationContext context)
    {
        var number = Convert.ToInt64(value, CultureInfo.InvariantCulture);
        return number >= Minimum && number <= Maximum
            ? ValidationResult.Success
            : new ValidationResult(
                $"{SettingName.Of(context)} = {number} is out of range [{Minimum}, {Maximum}].",
                context.MemberName is { } member ? [member] : null);
    }
}

/// <summary>
/// A real-number setting's lower bound (and finiteness), checked at start; the message names the setting, the value and
/// the bound: <c>Generator:Rate = -1 is out of range: a finite number &gt;= 0.</c>
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingMinimumAttribute(double minimum, bool exclusive = false) : ValidationAttribute
{
    public double Minimum { get; } = minimum;

    public bool Exclusive { get; } = exclusive;

    protected override ValidationResult? IsValid(object? value, ValidationContext context)
    {
        var number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        return double.IsFinite(number) && (Exclusive ? number > Minimum : number >= Minimum)
            ? ValidationResult.Success
            : new ValidationResult(
                $"{SettingName.Of(context)} = {number.ToString(CultureInfo.InvariantCulture)} is out of range: a finite number {(Exclusive ? ">" : ">=")} {Minimum.ToString(CultureInfo.InvariantCulture)}.",
                context.MemberName is { } member ? [member] : null);
    }
}

/// <summary>
/// A time-span setting's allowed range (invariant <c>[d.]hh:mm:ss[.fff]</c> bounds), checked at start; the message names
/// the setting, the value and the range: <c>FilterGateway:HealthCheckInterval = 00:00:00 is out of range [00:00:00.001, 1.00:00:00].</c>
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingTimeRangeAttribute(string minimum, string maximum) : ValidationAttribute
{
    public TimeSpan Minimum { get; } = TimeSpan.Parse(minimum, CultureInfo.InvariantCulture);

    public TimeSpan Maximum { get; } = TimeSpan.Parse(maximum, CultureInfo.InvariantCulture);

    protected override ValidationResult? IsValid(object? value, ValidationContext context)
        => value is TimeSpan time && time >= Minimum && time <= Maximum
            ? ValidationResult.Success
            : new ValidationResult(
                $"{SettingName.Of(context)} = {value} is out of range [{minimum}, {maximum}].{BareNumberHint(value)}",
                context.MemberName is { } member ? [member] : null);

    // TimeSpan's parse takes "30" as 30 days: a value of whole days is most likely a number of seconds meant.
    private static string BareNumberHint(object? value)
        => value is TimeSpan { Days: > 0 and <= 86_400 } time && time.Ticks % TimeSpan.TicksPerDay == 0
            ? $" A bare number is days in a time span: for {time.Days} s write {TimeSpan.FromSeconds(time.Days).ToString("c", CultureInfo.InvariantCulture)}."
            : "";
}

/// <summary>A string setting that must be set (not empty or blank); the message names the setting.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingRequiredAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext context)
        => value is string text && !string.IsNullOrWhiteSpace(text)
            ? ValidationResult.Success
            : new ValidationResult($"{SettingName.Of(context)} must not be empty.", context.MemberName is { } member ? [member] : null);
}

/// <summary>The name a user sets a validated member by.</summary>
public static class SettingName
{
    /// <summary>
    /// The member's <see cref="ConfigurationKeyNameAttribute"/> when it has one (a key from the configuration root), else
    /// <c>{SectionName}:{member}</c> when the options class declares a <c>public const string SectionName</c> (it is bound
    /// with <c>BindConfiguration(SectionName)</c>), else the member name.
    /// </summary>
    public static string Of(ValidationContext context)
    {
        var member = context.MemberName ?? context.DisplayName;
        if (context.ObjectType.GetProperty(member)?.GetCustomAttribute<ConfigurationKeyNameAttribute>() is { } key)
        {
            return key.Name;
        }

        return context.ObjectType.GetField("SectionName", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() is string section
            ? $"{section}:{member}"
            : member;
    }
}
