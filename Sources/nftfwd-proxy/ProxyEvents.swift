#if canImport(Glibc)
import Glibc
#endif
import NFTRelay

/// The proxy's wording of engine events (it serves one port, so none names it). dockerd does
/// not pass docker-proxy's tuning flags, so only the events of the defaults can come:
/// running out of local ports or descriptors towards the container.
enum ProxyEvents {
    static func describe(_ event: RelayEvent) -> String {
        switch event {
        case .targetResourcesExhausted(_, let error):
            let what = error.errno == Errno(rawValue: EADDRNOTAVAIL) ? "out of local ports" : "out of descriptors or socket memory"
            return "cannot open connections to the container: \(error) (\(what)); further failures are counted until one succeeds"
        case .targetResourcesRecovered(_, let failures):
            return "connections to the container succeed again (\(failures) failed)"
        case .sourceLimitReached(_, let source, let limit):
            return "client \(source) reached the per-source limit (\(limit))"
        case .sourceLimitEnded(_, let source, let refused):
            return "client \(source) holds no connection any more (\(refused) refused)"
        }
    }
}
