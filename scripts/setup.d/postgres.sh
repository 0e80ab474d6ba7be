#!/usr/bin/env bash
# PostgreSQL for the PostgresOutlet tests (tests/nodes/test_postgres_outlet.py):
#  1. the postgres extra (psycopg 3) into $VENV;
#  2. where root: Debian's postgresql, and a test cluster of its own in
#     /var/tmp/databay-postgres (owned by the postgres user) listening on
#     127.0.0.1:54329 only, trust auth for local connections, started if not running;
#  3. the connection string and the server's bin directory in .databay-test-postgres
#     (git-ignored) at the repository root, where the tests read them.
# Safe to run twice and from several checkouts at once (one lock around the server).
# Stop the server with: runuser -u postgres -- "$BIN/pg_ctl" -D /var/tmp/databay-postgres/data stop
set -uo pipefail
. "$(dirname "$0")/lib.bash"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PORT="${DATABAY_TEST_POSTGRES_PORT:-54329}"
HOME_DIR=/var/tmp/databay-postgres
DATA="$HOME_DIR/data"

"$VENV/bin/python" -m pip install --quiet -e "$ROOT[postgres]" || { echo "cannot install the postgres extra"; exit 1; }
apt_install postgresql || exit 1
is_root || { echo "not root: cannot start a PostgreSQL server for the tests"; exit 1; }
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$BIN/pg_ctl" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql"; exit 1; }

as_postgres() { runuser -u postgres -- "$@"; }
mkdir -p "$HOME_DIR" && chown postgres: "$HOME_DIR" && chmod 700 "$HOME_DIR"
running() { as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
# The lock only guards starting; the server must not inherit its descriptor (9>&-), or it
# would hold the lock for as long as it runs.
running || (
    flock -w 120 9 || { echo "another setup holds $HOME_DIR.lock"; exit 1; }
    running && exit 0
    if [ ! -s "$DATA/PG_VERSION" ]; then
        as_postgres "$BIN/initdb" -D "$DATA" -U postgres -A trust --no-sync >/dev/null 9>&- || exit 1
    fi
    as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$HOME_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $HOME_DIR -c fsync=off -c max_connections=50" \
        start >/dev/null 9>&- || { tail -20 "$HOME_DIR/server.log"; exit 1; }
) 9>"$HOME_DIR.lock" || exit 1
cat > "$ROOT/.databay-test-postgres" <<CONF
DATABAY_TEST_POSTGRES_DSN=host=127.0.0.1 port=$PORT user=postgres dbname=postgres
DATABAY_TEST_POSTGRES_BIN=$BIN
CONF
echo "PostgreSQL on 127.0.0.1:$PORT ($BIN); settings in .databay-test-postgres"
