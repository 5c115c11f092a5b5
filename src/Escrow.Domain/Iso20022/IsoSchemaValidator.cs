using System.Xml;
using System.Xml.Linq;
using System.Xml.Schema;

namespace Escrow.Domain.Iso20022;

/// <summary>Outcome of <see cref="IsoSchemaValidator.Validate"/>.</summary>
public enum SchemaOutcome
{
    /// <summary>A schema for the Document's namespace was loaded and the Document conforms.</summary>
    Valid,
    /// <summary>A schema was loaded and the Document violates it (<see cref="SchemaReport.Errors"/>).</summary>
    Invalid,
    /// <summary>No schema for this namespace version: not validated, and not a rejection.</summary>
    NotValidated,
    /// <summary>Not well-formed, or no Document element.</summary>
    Malformed,
}

/// <summary>What the validator said about one message.</summary>
public sealed record SchemaReport(SchemaOutcome Outcome, string? Definition, IReadOnlyList<string> Errors)
{
    public override string ToString() => Outcome switch
    {
        SchemaOutcome.NotValidated => $"not validated (no schema for version {Definition})",
        SchemaOutcome.Invalid => $"invalid against {Definition}: {string.Join("; ", Errors.Take(3))}",
        SchemaOutcome.Malformed => $"malformed: {string.Join("; ", Errors)}",
        _ => $"valid against {Definition}",
    };
}

/// <summary>
/// Optional XSD validation with the ISO 20022 base schemas (System.Xml.Schema). The constructor is the only
/// I/O: it loads every <c>*.xsd</c> of a directory, keyed by target namespace. <see cref="Validate"/> checks the
/// <c>Document</c> (unwrapped from any envelope; an AppHdr beside it is not validated, a lone AppHdr is validated as the document) against the schema of exactly
/// its namespace; a message of a version without a loaded schema is reported
/// <see cref="SchemaOutcome.NotValidated"/>, never rejected.
/// </summary>
public sealed class IsoSchemaValidator
{
    private readonly Dictionary<string, XmlSchemaSet> _byNamespace = new(StringComparer.Ordinal);

    public IsoSchemaValidator(string schemaDirectory)
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
        foreach (var path in Directory.EnumerateFiles(schemaDirectory, "*.xsd").Order(StringComparer.Ordinal))
        {
            using var reader = XmlReader.Create(path, settings);
            var schema = XmlSchema.Read(reader, null);
            if (schema?.TargetNamespace is not { } tns)
                continue;
            var set = new XmlSchemaSet { XmlResolver = null };
            set.Add(schema);
            set.Compile();
            _byNamespace[tns] = set;
        }
    }

    /// <summary>Message definitions (for example <c>pacs.008.001.09</c>) with a loaded schema.</summary>
    public IReadOnlyList<string> Definitions =>
        _byNamespace.Keys.Select(ns => IsoParser.TypeOf(ns) is ({ } t, { } v) ? $"{t}.{v}" : ns).Order(StringComparer.Ordinal).ToList();

    /// <summary>Validates one message. Never throws.</summary>
    public SchemaReport Validate(string xml)
    {
        XElement? document;
        try
        {
            var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
            using var reader = XmlReader.Create(new StringReader(xml), settings);
            var root = XDocument.Load(reader).Root!;
            document = root.Name.LocalName is "Document" or "AppHdr" ? root : root.Elements().FirstOrDefault(e => e.Name.LocalName == "Document");
        }
        catch (XmlException e)
        {
            return new(SchemaOutcome.Malformed, null, [e.Message]);
        }
        if (document is null)
            return new(SchemaOutcome.Malformed, null, ["no Document element"]);

        var ns = document.Name.NamespaceName;
        var definition = IsoParser.TypeOf(ns) is ({ } t, { } v) ? $"{t}.{v}" : ns;
        if (!_byNamespace.TryGetValue(ns, out var schemas))
            return new(SchemaOutcome.NotValidated, definition, []);

        var errors = new List<string>();
        new XDocument(new XElement(document)).Validate(schemas, (_, e) => errors.Add(e.Message));
        return new(errors.Count == 0 ? SchemaOutcome.Valid : SchemaOutcome.Invalid, definition, errors);
    }
}
