#compdef nftfwd

__nftfwd_complete() {
    local -ar non_empty_completions=("${@:#(|:*)}")
    local -ar empty_completions=("${(M)@:#(|:*)}")
    _describe -V '' non_empty_completions -- empty_completions -P $'\'\''
}

__nftfwd_custom_complete() {
    local -a completions
    completions=("${(@f)"$("${command_name}" "${@}" "${command_line[@]}")"}")
    if [[ "${#completions[@]}" -gt 1 ]]; then
        __nftfwd_complete "${completions[@]:0:-1}"
    fi
}

__nftfwd_cursor_index_in_current_word() {
    if [[ -z "${QIPREFIX}${IPREFIX}${PREFIX}" ]]; then
        printf 0
    else
        printf %s "${#${(z)LBUFFER}[-1]}"
    fi
}

_nftfwd() {
    emulate -RL zsh -G
    setopt extendedglob nullglob numericglobsort
    unsetopt aliases banghist

    local -xr SAP_SHELL=zsh
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(builtin emulate zsh -c 'printf %s "${ZSH_VERSION}"')"
    local -r SAP_SHELL_VERSION

    local context state state_descr line
    local -A opt_args

    local -r command_name="${words[1]}"
    local -ar command_line=("${words[@]}")
    local -ir current_word_index="$((CURRENT - 1))"

    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'add:Publish HOST (a port or range, optionally on one address) to TARGET.'
            'rm:Remove the mapping(s) published on exactly HOST.'
            'ls:List published mappings with their counters and the relay'\''s view.'
            'apply:Make the table hold exactly the mappings (and masquerade rules) in FILE, in one atomic batch.'
            'flush:Remove every mapping and the table itself.'
            'masquerade:Masquerade a target subnet'\''s outbound traffic (Docker'\''s '\''-s SUBNET ! -o BRIDGE -j MASQUERADE'\'').'
            'save:Write the published mappings to FILE, atomically, for '\''nftfwd restore'\''.'
            'restore:Make the table hold exactly what FILE says, in one atomic batch.'
            'diff:Show how the kernel table differs from a saved FILE.'
            'check:Exit non-zero, saying what is missing or extra, when the table differs from FILE.'
            'relay:Serve, in userland, the published ports the kernel cannot NAT.'
            'doctor:Check that this host can carry the published ports, and say how to fix it.'
            'import:Take over the ports another tool publishes.'
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        add|rm|ls|apply|flush|masquerade|save|restore|diff|check|relay|doctor|import|help)
            "_nftfwd_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_nftfwd_add() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        ':host:'
        ':target:'
        '--proto[tcp, udp or sctp.]:proto:'
        '--comment[Text shown by '\''nftfwd ls'\'' and in the nft listing (up to 64 bytes; any printable text but '\''"'\'' and '\''#'\'').]:text:'
        '*--allow[Only clients from this network reach the mapping (repeatable); others are dropped and counted.]:cidr:'
        '--proxy-protocol[tcp only\: the relay serves every client and sends TARGET a PROXY protocol header first (v1 or v2); no kernel DNAT.]:version:'
        '--enable-forwarding[Also set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding to 1 for the families the kernel forwards (in this network namespace, until reboot).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_rm() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        ':host:'
        '--proto[tcp, udp or sctp.]:proto:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_ls() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--json[Print JSON (the format '\''nftfwd apply'\'' reads).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_apply() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        ':file:'
        '--enable-forwarding[Also set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding to 1 for the families the kernel forwards (in this network namespace, until reboot).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_flush() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_masquerade() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'add:Masquerade traffic from SUBNET, except what leaves by --out-not.'
            'rm:Stop masquerading SUBNET.'
            'ls:List masqueraded subnets.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        add|rm|ls)
            "_nftfwd_masquerade_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_nftfwd_masquerade_add() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        ':subnet:'
        '--out-not[Leave traffic that goes out by this interface alone (the subnet'\''s own bridge).]:ifname:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_masquerade_rm() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        ':subnet:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_masquerade_ls() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--json[Print JSON.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_save() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        ':file:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_restore() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        ':file:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_diff() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        ':file:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_check() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        ':file:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_relay() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--connection-limit[At most this many connections at once per published TCP port (further clients wait in the backlog); for UDP, flows per port.]:n:'
        '--udp-timeout[Seconds a UDP flow may stay silent before it is dropped.]:seconds:'
        '--idle-timeout[Reset a relayed TCP connection that moved no byte either way for this many seconds (default\: never; keepalive still ends dead ones).]:seconds:'
        '--per-source-limit[At most this many TCP connections (or UDP flows) per client address on each published port (default\: no limit); see above.]:n:'
        '--metrics[Serve Prometheus metrics on ADDRESS\:PORT (e.g. 127.0.0.1\:9420; none without it). Whoever reaches that address reads every relayed mapping, its port, target and counters\: keep it on loopback unless a firewall limits who can.]:address\:port:'
        '--log-level[Least important messages logged\: debug, info, notice, warning or error.]:level:'
        '--restore-from[Keep the table equal to this saved file (see above); it must be readable at start.]:file:'
        '--loopback-redirect[Serve loopback TCP and UDP clients of published ports through the kernel'\''s redirect to four relay sockets instead of a listening socket per port (see above).]'
        '--replace[Take over from the relay serving this table here, if one runs\: it hands over its listening sockets, stops accepting and drains (see above).]'
        '--drain-timeout[With --replace, the relay taken over from lets its open connections run this long at most before it exits.]:seconds:'
        '--detach[Return once the relay serves, leaving it running in the background (what the systemd unit'\''s reload runs\: relay --replace --detach).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_doctor() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--json[Print JSON\: {"ok", "status", "checks"\: \[{"check", "status", "message", "fix"}\]}.]'
        '--probe-timeout[How long the TCP probes of the targets may take, in milliseconds.]:ms:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_import() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'iptables:Import port publishing from iptables-save or ip6tables-save output.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        iptables)
            "_nftfwd_import_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_nftfwd_import_iptables() {
    local -i ret=1
    local -ar arg_specs=(
        '--table[The nftables table nftfwd owns (family inet).]:name:'
        '(--verbose -v)'{--verbose,-v}'[Say what is sent to the kernel.]'
        '--save[After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE'\''s path), as '\''nftfwd save'\'' does. NFTFWD_SAVE=1 saves every change without the flag.]'
        ':file:_files'
        '--apply[Publish the imported mappings (the table then holds exactly them).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_nftfwd_help() {
    local -i ret=1
    local -ar arg_specs=(
        '*:subcommands:'
        '--version[Show the version.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

if [[ "${funcstack[1]}" = _nftfwd ]]; then
    _nftfwd "${@}"
else
    compdef _nftfwd nftfwd
fi
