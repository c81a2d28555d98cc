/// `nftfwd-cni --help`: what the plugin is, how a conflist names it, and its options.
enum Help {
    static let text = """
        nftfwd-cni: a CNI port-mapping plugin that publishes containers' ports in nftfwd's table
        (a drop-in for the reference 'portmap' plugin; CNI 0.3.0, 0.3.1, 0.4.0 and 1.0.0).

        A container runtime runs it, chained after the plugin that gives the container its
        addresses: CNI_COMMAND (ADD, DEL, CHECK, VERSION), CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME
        and CNI_PATH in the environment, the network config with runtimeConfig.portMappings and
        prevResult on stdin. The answer is JSON on stdout; logs go to stderr.

        In a conflist, in place of portmap:
          { "type": "nftfwd-cni", "capabilities": { "portMappings": true } }

        ADD publishes all the container's mappings in one batch, or fails (code 100, port
        conflict) and changes nothing; DEL removes what that container and interface published
        (none left is success); CHECK verifies them. Each mapping's comment names its owner:
        cni:ID:IFNAME ('nftfwd ls' shows it; long ids are shortened to 12 characters and a hash).

        Options in the network config:
          "table": "nftfwd"            the nftfwd table to publish in (default nftfwd)
          "masquerade": true           masquerade what the container's subnets send out
          "masqueradeSubnets": [...]   masquerade these subnets instead, e.g. ["10.88.0.0/16"]
          "masqueradeOutNot": "cni0"   except what leaves through this interface
          "snat": true                 portmap's hairpin masquerade: nftfwd always does it
        DEL leaves masquerade rules in place: the network's other containers share them.

        127.0.0.1 and ::1 are served by 'nftfwd relay'; route_localnet is never set.

        Error codes: 1 incompatible CNI version, 4 invalid network config, 6 stdin is not JSON,
        7 invalid CNI_* environment, 11 try again later, 100 port conflict, 101 a relay with
        --restore-from would undo the change, 102 system failure, 103 CHECK found a difference.

        """
}
