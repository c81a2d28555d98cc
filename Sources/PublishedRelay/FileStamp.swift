#if canImport(Glibc)
import Glibc
#endif

/// What tells a rewritten file from the one seen before: a rename makes a new inode, an edit
/// in place a new mtime or size.
struct FileStamp: Equatable {
    var device: UInt64, inode: UInt64, size: Int, seconds: Int, nanoseconds: Int

    init?(_ path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int(st.st_size)
        seconds = Int(st.st_mtim.tv_sec)
        nanoseconds = Int(st.st_mtim.tv_nsec)
    }
}
