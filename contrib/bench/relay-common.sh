# Sourced by relay.sh, relay-proxy.sh and relay-profile.sh: what the relay benchmarks share.
# Needs REPO and CACHE set, and a log function.

# The release nftfwd-proxy (and nftfwd, with "nftfwd" as argument) unless NFTFWD_PROXY (and
# NFTFWD) name binaries already: built into .build-relay, apart from the test build.
bench_relay_binaries() { # [nftfwd]
    if [[ ${1:-} == nftfwd && -z ${NFTFWD:-} ]]; then
        log "building nftfwd (release)"
        (cd "$REPO" && swift build -c release --scratch-path .build-relay --product nftfwd >&2)
        NFTFWD=$REPO/.build-relay/release/nftfwd
    fi
    if [[ -z ${NFTFWD_PROXY:-} ]]; then
        log "building nftfwd-proxy (release)"
        (cd "$REPO" && swift build -c release --scratch-path .build-relay --product nftfwd-proxy >&2)
        NFTFWD_PROXY=$REPO/.build-relay/release/nftfwd-proxy
    fi
}

# DOCKER_PROXY, unless set: the docker-proxy of Debian's docker.io, extracted into CACHE
# (downloaded once, never installed, so no dockerd starts).
bench_docker_proxy() {
    [[ -n ${DOCKER_PROXY:-} ]] && return 0
    DOCKER_PROXY=$CACHE/root/usr/sbin/docker-proxy
    if [[ ! -x $DOCKER_PROXY ]]; then
        log "extracting docker-proxy from Debian's docker.io"
        mkdir -p "$CACHE"
        (cd "$CACHE" && { ls docker.io_*.deb >/dev/null 2>&1 || apt-get download docker.io >&2; } && dpkg -x docker.io_*.deb root)
    fi
}

# Ends every process in namespace NS (TERM first, so a relay removes its status socket, then
# KILL what is left, bounded to 5 s) and deletes it.
bench_netns_remove() { # NS
    {
        ip netns pids "$1" | xargs -r kill
        for _ in $(seq 50); do [[ -z $(ip netns pids "$1") ]] && break; sleep 0.1; done
        ip netns pids "$1" | xargs -r kill -9
        wait
    } 2>/dev/null || true
    ip netns del "$1" 2>/dev/null || true
}

# Writes WORK/nginx.conf: one worker serving WORK/www with sendfile, temp files in WORK; the
# server blocks come from standard input.
bench_nginx_conf() { # WORK
    {
        cat <<CONF
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $1; proxy_temp_path $1;
    fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
CONF
        cat
        echo "}"
    } >"$1/nginx.conf"
}

# Writes FILE, haproxy's config as the benchmarks run it: TCP mode, splice both ways, long
# timeouts; the listen sections come from standard input.
bench_haproxy_cfg() { # FILE
    {
        cat <<CONF
global
    maxconn 4000   # haproxy wants ~2.5 fds per conn under the 20000 fd limit
defaults
    mode tcp
    timeout connect 10s
    timeout client 1h
    timeout server 1h
    option splice-request
    option splice-response
    option splice-auto
CONF
        cat
    } >"$1"
}
