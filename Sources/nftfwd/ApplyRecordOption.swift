import PortForwarding
import SavedState

extension Publisher {
    /// Lets this publisher's applies keep and use the record in the runtime directory
    /// (`NamespaceRecordFile.apply`), so an apply of a file the table already holds reads no element.
    func keepingApplyRecords(table: String) -> Publisher {
        if let file = NamespaceRecordFile.apply(table: table) {
            applyRecords = ApplyRecords(kernel: file.kernel, load: file.load, store: file.store)
        }
        return self
    }
}
