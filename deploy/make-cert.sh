#!/bin/sh
# A self-signed TLS certificate for the local compose example (deploy/compose.yaml): written to
# DIR (default deploy/tls/, git-ignored and kept out of images), valid 30 days, for NAME (default
# localhost) and 127.0.0.1. Never use it in production: there, put a CA-issued certificate and
# key at the same paths.
#   deploy/make-cert.sh [NAME [DIR]]
# Clients must then trust it, e.g. NODE_EXTRA_CA_CERTS=deploy/tls/cert.pem blindrelay ...
set -eu
name=${1:-localhost}
dir=${2:-$(cd "$(dirname "$0")" && pwd)/tls}
mkdir -p "$dir"
san="DNS:localhost,IP:127.0.0.1"
[ "$name" = localhost ] || san="DNS:$name,$san"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=$name" -addext "subjectAltName=$san" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chmod 644 "$dir/cert.pem"
echo "wrote $dir/cert.pem and $dir/key.pem for $name"
