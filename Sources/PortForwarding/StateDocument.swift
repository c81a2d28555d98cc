/// The desired state `nftfwd apply` reads: mappings, and masquerade rules unless the document
/// leaves them alone (nil: no "masquerade" key, or a bare array of mappings, the older form).
public struct StateDocument: Sendable, Equatable {
    public var mappings: [Mapping]
    public var masquerade: [MasqueradeRule]?
    public init(mappings: [Mapping], masquerade: [MasqueradeRule]?) {
        self.mappings = mappings
        self.masquerade = masquerade
    }

    /// `{"mappings": [...], "masquerade": [...]}` as `ls --json` prints it, or a bare array of
    /// mappings. Any bad entry fails it all, naming the entry.
    public static func parse(_ text: String) throws(MappingError) -> StateDocument {
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw .invalid("mapping file is not valid JSON: \(error)") }
        switch json {
        case .array:
            return StateDocument(mappings: try MappingFile.mappings(from: json, section: nil), masquerade: nil)
        case .object(let fields):
            for (key, _) in fields where key != "mappings" && key != "masquerade" {
                throw .invalid("unknown top-level field '\(Untrusted.escape(key))' (known: mappings, masquerade)")
            }
            // "mappings" must be there ([] for none): a document that forgot it would otherwise
            // remove every mapping. Without "masquerade" the rules are left as they are.
            guard let mappingsJSON = json["mappings"] else {
                throw .invalid("the document has no \"mappings\" (write \"mappings\": [] to remove every mapping)")
            }
            let mappings = try MappingFile.mappings(from: mappingsJSON, section: "mappings")
            let masquerade = try json["masquerade"].map { value throws(MappingError) in try MappingFile.masquerade(from: value) }
            return StateDocument(mappings: mappings, masquerade: masquerade)
        default:
            throw .invalid("mapping file must be a JSON object {\"mappings\": [...], \"masquerade\": [...]} as 'nftfwd ls --json' prints, or an array of mappings")
        }
    }
}
