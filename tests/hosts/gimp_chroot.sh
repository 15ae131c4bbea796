#!/usr/bin/env bash
# Real GIMP 3 for the host tests: a Debian chroot built once and cached OUTSIDE the repository,
# keyed by the hash of its recipe in this script (change the recipe -> a new cache folder).
#
#   tests/hosts/gimp_chroot.sh build            build if missing (idempotent), print the path
#   tests/hosts/gimp_chroot.sh path             print the path; exit 1 if not built yet
#   tests/hosts/gimp_chroot.sh prune            delete chroots of older recipes (same suite)
#   tests/hosts/gimp_chroot.sh run [K=V...] -- CMD [ARG...]
#                                               run CMD inside the chroot with a clean environment
#                                               plus K=V (proc, sys and a private /dev mounted for
#                                               the run only, always unmounted in a trap)
#
# Env: REPAINT_FILL_GIMP_SUITE (trixie = GIMP 3.0 [default]; forky = GIMP 3.2, optional tier),
#      REPAINT_FILL_CHROOT_CACHE (default /var/cache/repaint-fill),
#      REPAINT_FILL_DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Needs root. Safety: /dev is never bind-mounted as a directory; the chroot gets a tmpfs /dev with
# single device files bound onto it, and nothing is ever deleted while anything is mounted below it.
set -euo pipefail

SUITE="${REPAINT_FILL_GIMP_SUITE:-trixie}"
CACHE="${REPAINT_FILL_CHROOT_CACHE:-/var/cache/repaint-fill}"
MIRROR="${REPAINT_FILL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# xvfb + xdotool: the interactive test (the plug-in's dialog) needs a display and a key press.
PACKAGES="gimp python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4 xvfb xdotool"
MARKER=".repaint-fill-complete"
DEVICES="null zero full random urandom tty"

SELF="$(readlink -f "${BASH_SOURCE[0]}")"

die() { echo "gimp_chroot.sh: $*" >&2; exit 1; }

# Mount points at or below $1, deepest first (from this process's mount table).
mounts_below() {
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_all() {
    local dir="$1" target
    for target in $(mounts_below "$dir"); do
        umount "$target" 2>/dev/null || umount -l "$target" || true
    done
}

# Delete a (partial) chroot, but only when nothing at all is mounted below it.
safe_delete() {
    local dir="$1"
    [ -e "$dir" ] || return 0
    unmount_all "$dir"
    if [ -n "$(mounts_below "$dir")" ]; then
        die "refusing to delete $dir: still mounted: $(mounts_below "$dir" | tr '\n' ' ')"
    fi
    rm -rf --one-file-system "$dir"
}

mount_runtime() {
    local dir="$1" dev
    mount -t proc proc "$dir/proc"
    mount -t sysfs -o ro sysfs "$dir/sys"
    mount -t tmpfs -o mode=0755,size=64m tmpfs "$dir/dev"
    for dev in $DEVICES; do
        touch "$dir/dev/$dev"
        mount --bind "/dev/$dev" "$dir/dev/$dev"
    done
    mkdir -p "$dir/dev/shm" "$dir/dev/pts"
    chmod 1777 "$dir/dev/shm"
    ln -sf /proc/self/fd "$dir/dev/fd"
}

# The recipe: everything that decides what is inside the chroot. Its text (with mount_runtime,
# SUITE, PACKAGES and DEVICES) is hashed into the cache key: change it and a new chroot is built.
install_recipe() {
    local dir="$1" script_args=()
    # forky may not have its own debootstrap script yet on older hosts: use sid's.
    if [ "$SUITE" = forky ] && [ ! -e "/usr/share/debootstrap/scripts/forky" ]; then
        script_args=(/usr/share/debootstrap/scripts/sid)
    fi
    debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR" "${script_args[@]}" >&2
    unmount_all "$dir"
    echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99repaint-fill"
    mount_runtime "$dir"
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        apt-get update >&2
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends $PACKAGES >&2
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apt-get clean >&2
    chroot "$dir" /usr/bin/gimp-console --version >&2
    unmount_all "$dir"
}

# Undo every mount below $1 whenever the script ends or is interrupted (then stop).
unmount_on_exit() {
    trap 'unmount_all "'"$1"'"' EXIT
    trap 'unmount_all "'"$1"'"; exit 130' INT TERM
}

build() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
    if [ -f "$ROOT/$MARKER" ]; then
        echo "$ROOT"
        return 0
    fi
    command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install -y debootstrap"
    mkdir -p "$CACHE"
    local work="$ROOT.partial" started=$SECONDS
    exec 9>"$ROOT.lock"
    flock 9
    if [ -f "$ROOT/$MARKER" ]; then echo "$ROOT"; return 0; fi
    safe_delete "$work"
    unmount_on_exit "$work"
    install_recipe "$work"
    unmount_all "$work"
    trap - EXIT INT TERM
    [ -z "$(mounts_below "$work")" ] || die "could not unmount everything below $work"
    date -u +%FT%TZ >"$work/$MARKER"
    mv "$work" "$ROOT"
    echo "built $ROOT in $((SECONDS - started)) s" >&2
    echo "$ROOT"
}

run() {
    [ "$(id -u)" = 0 ] || die "needs root (chroot, mount)"
    [ -f "$ROOT/$MARKER" ] || die "chroot not built: $SELF build"
    local env_args=(PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        env_args+=("$1")
        shift
    done
    [ "${1:-}" = "--" ] || die "usage: $0 run [K=V...] -- CMD [ARG...]"
    shift
    # One run at a time per chroot: the runtime mounts are shared.
    exec 9>"$ROOT.lock"
    flock 9
    unmount_on_exit "$ROOT"
    unmount_all "$ROOT"
    mount_runtime "$ROOT"
    local rc=0
    chroot "$ROOT" /usr/bin/env -i "${env_args[@]}" "$@" || rc=$?
    unmount_all "$ROOT"
    trap - EXIT INT TERM
    return "$rc"
}

# The cache key: editing the helpers or comments does not force a rebuild; changing the recipe does.
KEY="$( { echo "$SUITE $PACKAGES $DEVICES"; declare -f install_recipe mount_runtime; } \
    | sha256sum | cut -c1-12)"
ROOT="$CACHE/gimp-chroot-$SUITE-$KEY"

prune() {
    local old
    for old in "$CACHE"/gimp-chroot-"$SUITE"-*; do
        [ -d "$old" ] || continue
        [ "$old" = "$ROOT" ] && continue
        case "$old" in *.lock | *.partial) continue ;; esac
        echo "removing $old" >&2
        safe_delete "$old"
        rm -f "$old.lock"
    done
}

case "${1:-}" in
    build) build ;;
    prune) prune ;;
    path) [ -f "$ROOT/$MARKER" ] && echo "$ROOT" || { echo "$ROOT"; exit 1; } ;;
    run) shift; run "$@" ;;
    *) die "usage: $0 build | path | prune | run [K=V...] -- CMD [ARG...]" ;;
esac
