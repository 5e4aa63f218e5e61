#!/usr/bin/env bash
# Makes sure the machine's shared services run: PostgreSQL (5432), Redis (6379), NATS with
# JetStream (4222). Starts a stopped one; installs a missing one from Debian's packages.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done; echo "ensure-services: $2 did not come up on port $1" >&2; return 1; }
need_root() { [ "$(id -u)" = 0 ] || { echo "ensure-services: $1 is not running and starting it needs root; start it and retry" >&2; exit 1; }; }
apt_install() {
  need_root "$1"
  echo "ensure-services: installing $* from Debian packages"
  if [ -z "${APT_UPDATED:-}" ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! up 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  need_root PostgreSQL
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  echo "ensure-services: starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_up 5432 PostgreSQL
  # Tests connect as postgres without a password over TCP, as on the CI machine.
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if ! grep -qE '^host\s+all\s+all\s+127.0.0.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
  fi
fi

if ! up 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  need_root Redis
  echo "ensure-services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_up 6379 Redis
fi

if ! up 4222; then
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  need_root NATS
  echo "ensure-services: starting NATS with JetStream"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server || echo /usr/sbin/nats-server)" -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_up 4222 NATS
fi
echo "ensure-services: PostgreSQL, Redis and NATS JetStream are up"
