#!/usr/bin/env bash
# Make sure the RabbitMQ broker the distributed-executor test uses (127.0.0.1:5672,
# guest/guest) is reachable; start the local server if it is down. Fatal when it cannot.
set -euo pipefail
HOST=127.0.0.1
PORT=5672

ready() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if ready; then
  echo "ensure-rabbitmq: RabbitMQ is up on $HOST:$PORT"
  exit 0
fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "ensure-rabbitmq: rabbitmq-server not found; installing it" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi
echo "ensure-rabbitmq: RabbitMQ is down on $HOST:$PORT; starting it" >&2
rabbitmq-server -detached || true
for _ in $(seq 1 60); do
  ready && { echo "ensure-rabbitmq: RabbitMQ started"; exit 0; }
  sleep 1
done
echo "ensure-rabbitmq: cannot reach RabbitMQ at $HOST:$PORT; the celery executor test needs it" >&2
exit 1
