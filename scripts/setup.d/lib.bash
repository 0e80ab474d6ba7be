# Helpers for the setup steps; sourced, not run.
is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PACKAGE...: install missing Debian packages when root; 1 if not possible.
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    is_root && command -v apt-get >/dev/null || { echo "not root or no apt-get: cannot install ${missing[*]}"; return 1; }
    if [ ! -e /tmp/.databay-apt-updated ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq && touch /tmp/.databay-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
