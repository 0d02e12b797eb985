#!/usr/bin/env bash
# bench/brokers.sh up|down|status: the brokers the benchmarks compare zmesh with,
# each its Debian package, started on 127.0.0.1 only and stopped by PID.
#
#   RabbitMQ   127.0.0.1:5672   (amqplib)
#   NATS       127.0.0.1:4222   (nats core, and JetStream: -js, file store in $DIR/nats-js)
#   Mosquitto  127.0.0.1:1883   (MQTT 3.1.1/5, QoS 0 and 1)
#
# `up` installs a missing package with apt-get (root), without letting the package
# start a system service, and starts the broker with state in $ZMESH_BROKERS_DIR
# (default /tmp/zmesh-brokers). A broker that cannot be installed or started is
# reported and left out; the benchmark then marks its rows skipped.
set -u
DIR=${ZMESH_BROKERS_DIR:-/tmp/zmesh-brokers}
mkdir -p "$DIR"

log() { printf 'brokers: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$2" && return 0
    sleep 0.1
  done
  log "$1 did not open 127.0.0.1:$2 within $3 s (see $DIR/$1.log)"
  return 1
}

install() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then log "$2 is not installed and installing it needs root"; return 1; fi
  log "installing $2"
  # policy-rc.d 101: the package must not start its own system-wide service.
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1 && cp "$policy" "$DIR/policy-rc.d.saved"
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >"$DIR/apt-$2.log" 2>&1
  local rc=$?
  if [ "$rc" != 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update >>"$DIR/apt-$2.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >>"$DIR/apt-$2.log" 2>&1
    rc=$?
  fi
  if [ "$had_policy" = 1 ]; then mv "$DIR/policy-rc.d.saved" "$policy"; else rm -f "$policy"; fi
  [ "$rc" = 0 ] || { log "could not install $2 (see $DIR/apt-$2.log)"; return 1; }
  # A package that started anyway is stopped: only our own instances run.
  pkill -x "$1" 2>/dev/null || true
  return 0
}

start_nats() {
  install nats-server nats-server || return 1
  port_open 4222 && { log "nats: 127.0.0.1:4222 already in use"; return 1; }
  # JetStream on (core NATS works as before); its file store starts empty each time,
  # so no stream of an earlier run is replayed or counted.
  rm -rf "$DIR/nats-js" && mkdir -p "$DIR/nats-js"
  nats-server -a 127.0.0.1 -p 4222 -js -sd "$DIR/nats-js" -P "$DIR/nats.pid" >"$DIR/nats.log" 2>&1 &
  wait_port nats 4222 10 || return 1
  # The port opens before JetStream has finished starting.
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q 'Server is ready' "$DIR/nats.log" && return 0
    sleep 0.1
  done
  log "nats: JetStream did not report ready within 10 s (see $DIR/nats.log)"
  return 1
}

start_mosquitto() {
  install mosquitto mosquitto || return 1
  port_open 1883 && { log "mosquitto: 127.0.0.1:1883 already in use"; return 1; }
  mkdir -p "$DIR/mosquitto"
  cat >"$DIR/mosquitto.conf" <<CONF
listener 1883 127.0.0.1
allow_anonymous true
persistence true
persistence_location $DIR/mosquitto/
max_queued_messages 1000000
max_inflight_messages 0
set_tcp_nodelay true
CONF
  mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
  echo $! >"$DIR/mosquitto.pid"
  wait_port mosquitto 1883 10
}

start_rabbitmq() {
  install rabbitmq-server rabbitmq-server || return 1
  port_open 5672 && { log "rabbitmq: 127.0.0.1:5672 already in use"; return 1; }
  mkdir -p "$DIR/rabbitmq/mnesia" "$DIR/rabbitmq/log"
  cat >"$DIR/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:5672
loopback_users = none
CONF
  # Erlang's port mapper and distribution port stay on loopback too. epmd is started
  # here, in the foreground of its own background job, so that `down` can stop it by
  # its PID; one that is already running (someone else's) is used and left alone.
  if ! port_open 4369; then
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -address 127.0.0.1 >"$DIR/epmd.log" 2>&1 &
    echo $! >"$DIR/epmd.pid"
    wait_port epmd 4369 10 || return 1
  fi
  (
    export ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_NODENAME=zmeshbench@localhost \
      RABBITMQ_CONFIG_FILE="$DIR/rabbitmq/rabbitmq.conf" RABBITMQ_MNESIA_BASE="$DIR/rabbitmq/mnesia" \
      RABBITMQ_LOG_BASE="$DIR/rabbitmq/log" RABBITMQ_PID_FILE="$DIR/rabbitmq.pid" \
      RABBITMQ_DIST_PORT=25672 RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/rabbitmq/enabled_plugins" HOME="$DIR/rabbitmq"
    echo '[].' >"$DIR/rabbitmq/enabled_plugins"
    exec /usr/lib/rabbitmq/bin/rabbitmq-server >"$DIR/rabbitmq.log" 2>&1
  ) &
  echo $! >"$DIR/rabbitmq.launcher.pid"
  wait_port rabbitmq 5672 90
}

stop_pidfile() { # name file
  [ -f "$2" ] || return 0
  local pid
  pid=$(cat "$2")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$2"
}

case "${1:-}" in
  up)
    status=0
    for b in ${ZMESH_BROKERS:-nats mosquitto rabbitmq}; do
      if "start_$b"; then log "$b up"; else log "$b skipped"; status=1; fi
    done
    exit $status
    ;;
  down)
    stop_pidfile nats "$DIR/nats.pid"
    stop_pidfile mosquitto "$DIR/mosquitto.pid"
    stop_pidfile rabbitmq "$DIR/rabbitmq.pid"
    stop_pidfile rabbitmq-launcher "$DIR/rabbitmq.launcher.pid"
    # epmd, when `up` started it for RabbitMQ; it holds no state.
    stop_pidfile epmd "$DIR/epmd.pid"
    ;;
  status)
    for p in nats:4222 mosquitto:1883 rabbitmq:5672; do
      if port_open "${p#*:}"; then echo "${p%%:*} up on 127.0.0.1:${p#*:}"; else echo "${p%%:*} down"; fi
    done
    ;;
  *)
    echo "usage: bench/brokers.sh up|down|status" >&2
    exit 2
    ;;
esac
