function __nftfwd_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __nftfwd_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __nftfwd_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __nftfwd_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __nftfwd_parse_tokens -S
    set -l unparsed_tokens (__nftfwd_tokens -pc)
    switch $unparsed_tokens[1]
    case 'nftfwd'
        __nftfwd_parse_subcommand 0 'table=' 'v/verbose' 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'add'
            __nftfwd_parse_subcommand 2 'table=' 'v/verbose' 'save' 'proto=' 'comment=' 'allow=+' 'proxy-protocol=' 'enable-forwarding' 'version' 'h/help'
        case 'rm'
            __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'save' 'proto=' 'version' 'h/help'
        case 'ls'
            __nftfwd_parse_subcommand 0 'table=' 'v/verbose' 'json' 'version' 'h/help'
        case 'apply'
            __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'save' 'enable-forwarding' 'version' 'h/help'
        case 'flush'
            __nftfwd_parse_subcommand 0 'table=' 'v/verbose' 'save' 'version' 'h/help'
        case 'masquerade'
            __nftfwd_parse_subcommand 0 'table=' 'v/verbose' 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'add'
                __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'save' 'out-not=' 'version' 'h/help'
            case 'rm'
                __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'save' 'version' 'h/help'
            case 'ls'
                __nftfwd_parse_subcommand 0 'table=' 'v/verbose' 'json' 'version' 'h/help'
            end
        case 'save'
            __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'version' 'h/help'
        case 'restore'
            __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'save' 'version' 'h/help'
        case 'diff'
            __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'version' 'h/help'
        case 'check'
            __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'version' 'h/help'
        case 'relay'
            __nftfwd_parse_subcommand 0 'table=' 'v/verbose' 'connection-limit=' 'udp-timeout=' 'idle-timeout=' 'per-source-limit=' 'metrics=' 'log-level=' 'restore-from=' 'loopback-redirect' 'replace' 'drain-timeout=' 'detach' 'version' 'h/help'
        case 'doctor'
            __nftfwd_parse_subcommand 0 'table=' 'v/verbose' 'json' 'probe-timeout=' 'version' 'h/help'
        case 'import'
            __nftfwd_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'iptables'
                __nftfwd_parse_subcommand 1 'table=' 'v/verbose' 'save' 'apply' 'version' 'h/help'
            end
        case 'help'
            __nftfwd_parse_subcommand -r 1 'version'
        end
    end
end

function __nftfwd_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __nftfwd_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __nftfwd_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __nftfwd_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__nftfwd_tokens -p)
    if test -z "$(__nftfwd_tokens -t)"
        set -l index (count (__nftfwd_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'nftfwd' -f
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'add' -d 'Publish HOST (a port or range, optionally on one address) to TARGET.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'rm' -d 'Remove the mapping(s) published on exactly HOST.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'ls' -d 'List published mappings with their counters and the relay\'s view.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'apply' -d 'Make the table hold exactly the mappings (and masquerade rules) in FILE, in one atomic batch.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'flush' -d 'Remove every mapping and the table itself.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'masquerade' -d 'Masquerade a target subnet\'s outbound traffic (Docker\'s \'-s SUBNET ! -o BRIDGE -j MASQUERADE\').'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'save' -d 'Write the published mappings to FILE, atomically, for \'nftfwd restore\'.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'restore' -d 'Make the table hold exactly what FILE says, in one atomic batch.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'diff' -d 'Show how the kernel table differs from a saved FILE.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'check' -d 'Exit non-zero, saying what is missing or extra, when the table differs from FILE.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'relay' -d 'Serve, in userland, the published ports the kernel cannot NAT.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'doctor' -d 'Check that this host can carry the published ports, and say how to fix it.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'import' -d 'Take over the ports another tool publishes.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" proto' -l 'proto' -d 'tcp, udp or sctp.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" comment' -l 'comment' -d 'Text shown by \'nftfwd ls\' and in the nft listing (up to 64 bytes; any printable text but \'"\' and \'#\').' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add"' -l 'allow' -d 'Only clients from this network reach the mapping (repeatable); others are dropped and counted.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" proxy-protocol' -l 'proxy-protocol' -d 'tcp only: the relay serves every client and sends TARGET a PROXY protocol header first (v1 or v2); no kernel DNAT.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" enable-forwarding' -l 'enable-forwarding' -d 'Also set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding to 1 for the families the kernel forwards (in this network namespace, until reboot).'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd add" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd rm" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd rm" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd rm" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd rm" proto' -l 'proto' -d 'tcp, udp or sctp.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd rm" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd rm" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd ls" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd ls" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd ls" json' -l 'json' -d 'Print JSON (the format \'nftfwd apply\' reads).'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd ls" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd ls" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd apply" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd apply" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd apply" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd apply" enable-forwarding' -l 'enable-forwarding' -d 'Also set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding to 1 for the families the kernel forwards (in this network namespace, until reboot).'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd apply" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd apply" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd flush" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd flush" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd flush" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd flush" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd flush" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd masquerade" -eq 1' -fa 'add' -d 'Masquerade traffic from SUBNET, except what leaves by --out-not.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd masquerade" -eq 1' -fa 'rm' -d 'Stop masquerading SUBNET.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd masquerade" -eq 1' -fa 'ls' -d 'List masqueraded subnets.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade add" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade add" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade add" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade add" out-not' -l 'out-not' -d 'Leave traffic that goes out by this interface alone (the subnet\'s own bridge).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade add" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade add" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade rm" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade rm" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade rm" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade rm" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade rm" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade ls" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade ls" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade ls" json' -l 'json' -d 'Print JSON.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade ls" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd masquerade ls" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd save" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd save" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd save" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd save" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd restore" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd restore" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd restore" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd restore" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd restore" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd diff" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd diff" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd diff" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd diff" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd check" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd check" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd check" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd check" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" connection-limit' -l 'connection-limit' -d 'At most this many connections at once per published TCP port (further clients wait in the backlog); for UDP, flows per port.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" udp-timeout' -l 'udp-timeout' -d 'Seconds a UDP flow may stay silent before it is dropped.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" idle-timeout' -l 'idle-timeout' -d 'Reset a relayed TCP connection that moved no byte either way for this many seconds (default: never; keepalive still ends dead ones).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" per-source-limit' -l 'per-source-limit' -d 'At most this many TCP connections (or UDP flows) per client address on each published port (default: no limit); see above.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" metrics' -l 'metrics' -d 'Serve Prometheus metrics on ADDRESS:PORT (e.g. 127.0.0.1:9420; none without it). Whoever reaches that address reads every relayed mapping, its port, target and counters: keep it on loopback unless a firewall limits who can.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" log-level' -l 'log-level' -d 'Least important messages logged: debug, info, notice, warning or error.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" restore-from' -l 'restore-from' -d 'Keep the table equal to this saved file (see above); it must be readable at start.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" loopback-redirect' -l 'loopback-redirect' -d 'Serve loopback TCP and UDP clients of published ports through the kernel\'s redirect to four relay sockets instead of a listening socket per port (see above).'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" replace' -l 'replace' -d 'Take over from the relay serving this table here, if one runs: it hands over its listening sockets, stops accepting and drains (see above).'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" drain-timeout' -l 'drain-timeout' -d 'With --replace, the relay taken over from lets its open connections run this long at most before it exits.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" detach' -l 'detach' -d 'Return once the relay serves, leaving it running in the background (what the systemd unit\'s reload runs: relay --replace --detach).'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd relay" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd doctor" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd doctor" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd doctor" json' -l 'json' -d 'Print JSON: {"ok", "status", "checks": [{"check", "status", "message", "fix"}]}.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd doctor" probe-timeout' -l 'probe-timeout' -d 'How long the TCP probes of the targets may take, in milliseconds.' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd doctor" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd import" -eq 1' -fa 'iptables' -d 'Import port publishing from iptables-save or ip6tables-save output.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import iptables" table' -l 'table' -d 'The nftables table nftfwd owns (family inet).' -rfka ''
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import iptables" v verbose' -l 'verbose' -s 'v' -d 'Say what is sent to the kernel.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import iptables" save' -l 'save' -d 'After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE\'s path), as \'nftfwd save\' does. NFTFWD_SAVE=1 saves every change without the flag.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_positional "nftfwd import iptables" -eq 1' -F
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import iptables" apply' -l 'apply' -d 'Publish the imported mappings (the table then holds exactly them).'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import iptables" version' -l 'version' -d 'Show the version.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd import iptables" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'nftfwd' -n '__nftfwd_should_offer_completions_for_flags_or_options "nftfwd help" version' -l 'version' -d 'Show the version.'
