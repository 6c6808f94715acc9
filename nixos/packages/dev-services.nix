# `housify-dev-services start|stop|status`: the PostgreSQL (trust auth, user
# postgres) and Redis that tests/conftest.py expects on 127.0.0.1:5432 and
# 127.0.0.1:6379, run from a private directory for `nix develop`. A server
# already answering on its port is left alone (the same rule as .ci/run).
{
  writeShellApplication,
  postgresql,
  redis,
  coreutils,
}:

writeShellApplication {
  name = "housify-dev-services";
  runtimeInputs = [
    postgresql
    redis
    coreutils
  ];
  text = ''
    dir=''${HOUSIFY_DEV_DIR:-''${XDG_RUNTIME_DIR:-/tmp}/housify-dev-$(id -u)}
    pg_port=''${HOUSIFY_DEV_PG_PORT:-5432}
    redis_port=''${HOUSIFY_DEV_REDIS_PORT:-6379}
    mkdir -p "$dir"

    start() {
      if ! pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
        [ -s "$dir/pg/PG_VERSION" ] || initdb -D "$dir/pg" -U postgres --auth=trust >"$dir/initdb.log"
        pg_ctl -D "$dir/pg" -l "$dir/pg.log" -w \
          -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $dir" start >/dev/null
      fi
      if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
        redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" \
          --dir "$dir" --save "" --appendonly no --logfile "$dir/redis.log" \
          --pidfile "$dir/redis.pid"
        for _ in $(seq 30); do
          redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
          sleep 0.2
        done
      fi
    }

    stop() {
      [ -s "$dir/pg/postmaster.pid" ] && pg_ctl -D "$dir/pg" -m fast stop >/dev/null || true
      # Only a Redis this script started (it wrote the pid file).
      if [ -s "$dir/redis.pid" ]; then
        redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
        rm -f "$dir/redis.pid"
      fi
    }

    case "''${1:-start}" in
      start) start ;;
      stop) stop ;;
      status)
        pg_isready -h 127.0.0.1 -p "$pg_port"
        redis-cli -h 127.0.0.1 -p "$redis_port" ping
        ;;
      *) echo "usage: housify-dev-services start|stop|status" >&2; exit 2 ;;
    esac
  '';
}
