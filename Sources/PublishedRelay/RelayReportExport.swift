// The status types moved to RelayReport so HostChecks can read them without linking the
// daemon (Prometheus, Logging); re-exported so the daemon's files and users keep one import.
@_exported import RelayReport
